import Foundation
import Glibc

/// Tells systemd (a `Type=notify` unit) that the mount is up, by sending `READY=1` to the
/// datagram socket named in `NOTIFY_SOCKET`. Nothing happens outside systemd.
enum SystemdNotifier {
  static func ready(status: String) {
    guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
      for (i, b) in bytes.enumerated() { buffer[i] = b }
    }
    let message = "READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())\n"
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    _ = message.withCString { text in
      withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), 0, $0, length) }
      }
    }
  }
}
