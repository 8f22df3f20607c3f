import Locking

/// The link's round trip to S3, measured from the requests themselves: each answer's wait from
/// the request sent to its first byte is one round trip plus the server's own time, so the least
/// of the recent waits is the round trip (as TCP's and BBR's minimum RTT filters take it). Read
/// by whatever sizes itself to the link: the read-ahead, the retry delays.
public final class RoundTripEstimate: Sendable {
  private struct Window: Sendable {
    var samples: [Duration] = []
    var next = 0
    /// The least of `samples`, kept at each answer: every FUSE read asks for it.
    var least: Duration?
  }

  /// How many recent requests the minimum is taken over: enough that a few answers slowed by
  /// the server do not count, few enough that a link that got slower is seen within seconds.
  public static let windowSize = 32
  private let window = Locked(Window())

  public init() {}

  public func record(_ wait: Duration) {
    guard wait >= .zero else { return }
    window.withLock { w in
      if w.samples.count < Self.windowSize {
        w.samples.append(wait)
      } else {
        w.samples[w.next] = wait
        w.next = (w.next + 1) % Self.windowSize
      }
      w.least = w.samples.min()
    }
  }

  /// The least wait of the recent requests; nil before the first answer.
  public var current: Duration? { window.withLock { $0.least } }
}
