import Foundation
import Locking

/// The recent failures shown in `.edgemount/errors`: rejected saves and failed requests,
/// newest last, bounded in count.
public final class ErrorLog: Sendable {
  private let lines = Locked<[String]>([])
  private let capacity: Int

  public init(capacity: Int = 500) { self.capacity = capacity }

  public func append(_ message: String, date: Date = Date()) {
    // gmtime_r, not a Foundation formatter: this runs on many FUSE threads at once.
    let stamp = ISOTime.string(Int64(date.timeIntervalSince1970))
    let line = "\(stamp) \(message.replacingOccurrences(of: "\n", with: " "))"
    lines.withLock {
      $0.append(line)
      if $0.count > capacity { $0.removeFirst($0.count - capacity) }
    }
  }

  public var text: String { lines.withLock { $0.map { $0 + "\n" }.joined() } }
}
