import Foundation

/// The benchmark's delay proxy (Benchmarks/delay-proxy.c), built for a test and started in
/// front of a server: a set round trip between the mount and it, a new connection costing one
/// round trip more. Stopped with `stop()`.
public enum DelayProxy {
  /// Builds the proxy and starts it on `port`, forwarding to `upstreamPort` on loopback; with
  /// `megabits`, the link carries that many megabits a second each way.
  public static func start(port: Int, upstreamPort: Int, milliseconds: Int, megabits: Int? = nil) throws
    -> BackgroundProcess
  {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
    let binary = FileManager.default.temporaryDirectory.appendingPathComponent("delay-proxy-\(UUID())").path
    let built = try Command.run(["/usr/bin/cc", "-O2", "-pthread", "-o", binary, root + "/Benchmarks/delay-proxy.c"])
    guard built.status == 0 else { throw DelayProxyError(message: "cc failed: \(built.stderr)") }
    let rate = megabits.map { ["--mbit", String($0)] } ?? []
    let proxy = try BackgroundProcess([binary, String(port), String(upstreamPort), String(milliseconds)] + rate)
    Thread.sleep(forTimeInterval: 0.3)
    return proxy
  }
}

struct DelayProxyError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}
