import Foundation
import Glibc
import S3

/// A real kernel mount of a bucket by the built `edgemount` binary, started as a user would
/// (in the background, waiting for it to be ready) and unmounted at the end.
public final class MountedBucket: @unchecked Sendable {
  public let path: String
  public let bucket: String
  private var mounted = true

  /// The directory holding the built executables (next to the test bundle).
  public static var binDirectory: URL {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
  }

  public static var edgemount: String { binDirectory.appendingPathComponent("edgemount").path }

  /// Mounts `bucket` on a fresh directory with extra options (e.g. `--list-ttl 2`); with a
  /// `launcher` (`NetworkHosts.on(host)`), the mount runs on that network host.
  public init(bucket: String, endpoint: String? = nil, options: [String] = [], launcher: [String] = []) throws {
    self.bucket = bucket
    path = FileManager.default.temporaryDirectory.appendingPathComponent("mnt-\(bucket)-\(UUID().uuidString.prefix(6))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let result = try Command.run(
      launcher + [Self.edgemount, bucket, path, "--endpoint", try endpoint ?? TestS3.endpointURL] + options)
    guard result.status == 0 else {
      throw MountFailed(description: "edgemount exited \(result.status): \(result.stderr)")
    }
    Self.register(path)
  }

  /// Mount points this process made, unmounted (lazily) when the test process exits, so a
  /// shared fixture or a failed test leaves nothing behind.
  nonisolated(unsafe) private static var live: Set<String> = []
  private static let liveLock = NSLock()
  private static let cleanupAtExit: Void = {
    atexit {
      MountedBucket.liveLock.lock()
      let paths = MountedBucket.live
      MountedBucket.liveLock.unlock()
      for path in paths { umount2(path, Int32(MNT_DETACH)) }
    }
  }()

  private static func register(_ path: String) {
    _ = cleanupAtExit
    liveLock.withLock { _ = live.insert(path) }
  }

  public struct MountFailed: Error, CustomStringConvertible {
    public let description: String
  }

  /// `fusermount3 -u`, falling back to a lazy unmount so a failed test leaves nothing behind.
  public func unmount() {
    guard mounted else { return }
    mounted = false
    _ = Self.liveLock.withLock { Self.live.remove(path) }
    if (try? Command.run(["fusermount3", "-u", path]))?.status != 0 {
      _ = try? Command.run(["umount", "-l", path])
    }
    try? FileManager.default.removeItem(atPath: path)
  }

  deinit { unmount() }

  public func file(_ relative: String) -> String { path + "/" + relative }

  /// The request counters from `.edgemount/status`.
  public func counters() throws -> [String: Int] {
    let text = try String(contentsOfFile: file(".edgemount/status"), encoding: .utf8)
    var out: [String: Int] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      if parts.count == 2, let v = Int(parts[1].trimmingCharacters(in: .whitespaces)) { out[String(parts[0])] = v }
    }
    return out
  }
}
