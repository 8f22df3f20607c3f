import Locking

/// The endpoints of one S3 store (the gateways of a cluster), and how each is doing. Requests
/// stay on one healthy endpoint (its connections are warm); an endpoint that refuses
/// connections, or times out or answers 5xx three times in a row, is left alone for a back-off
/// period (5 s, doubling to 5 minutes) and then tried again. When every endpoint is backing
/// off, the one whose period ends first is used. One endpoint behaves as before.
public final class EndpointPool: Sendable {
  /// What `.edgemount/status` shows of one endpoint.
  public struct Health: Sendable, Equatable {
    public var endpoint: String
    /// `up`; `backing_off` while left alone; `retry_due` once the back-off is over, until the
    /// endpoint answers again.
    public var state: String
    public var requests: Int
    public var failures: Int
    /// Seconds until it is tried again (0 when up).
    public var retryInSeconds: Int
  }

  /// How a request to an endpoint ended, as far as the endpoint's health goes.
  public enum Outcome: Sendable {
    case answered
    /// Connection refused or reset before any answer: the endpoint is down now.
    case refused
    /// A timeout or a 5xx other than throttling: down after three in a row.
    case failed
  }

  private struct Entry: Sendable {
    var endpoint: S3Endpoint
    var requests = 0
    var failures = 0
    var inARow = 0
    var downUntil: ContinuousClock.Instant?
    var backoff = EndpointPool.firstBackoff
  }

  private struct State: Sendable {
    var entries: [Entry]
    /// The endpoint requests go to while it is up.
    var preferred = 0
  }

  static let firstBackoff: Duration = .seconds(5)
  static let maxBackoff: Duration = .seconds(300)
  static let failuresBeforeBackoff = 3

  private let state: Locked<State>
  private let clock: any MountClock

  public init(_ endpoints: [S3Endpoint], clock: any MountClock = SystemClock()) {
    precondition(!endpoints.isEmpty, "an endpoint pool needs an endpoint")
    state = Locked(State(entries: endpoints.map { Entry(endpoint: $0) }))
    self.clock = clock
  }

  public var count: Int { state.withLock { $0.entries.count } }

  /// The endpoint for the next request: the preferred one if it is up, else the next up in
  /// order, else the one back soonest.
  func pick() -> (index: Int, endpoint: S3Endpoint) {
    let now = clock.instant()
    return state.withLock { s in
      let n = s.entries.count
      for step in 0..<n {
        let i = (s.preferred + step) % n
        if s.entries[i].downUntil.map({ $0 <= now }) ?? true {
          s.preferred = i
          s.entries[i].requests += 1
          return (i, s.entries[i].endpoint)
        }
      }
      // Invariant: n > 0, so min exists.
      let i = s.entries.indices.min { s.entries[$0].downUntil! < s.entries[$1].downUntil! }!
      s.entries[i].requests += 1
      return (i, s.entries[i].endpoint)
    }
  }

  /// Records how a request to endpoint `index` ended; returns a line to log when its state
  /// changed.
  @discardableResult
  func report(_ index: Int, _ outcome: Outcome) -> String? {
    let now = clock.instant()
    return state.withLock { s -> String? in
      guard s.entries.indices.contains(index) else { return nil }
      var e = s.entries[index]
      defer { s.entries[index] = e }
      switch outcome {
      case .answered:
        let wasDown = e.downUntil != nil
        e.inARow = 0
        e.downUntil = nil
        e.backoff = Self.firstBackoff
        return wasDown && s.entries.count > 1 ? "endpoint \(e.endpoint.description) answers again" : nil
      case .refused, .failed:
        e.failures += 1
        e.inARow += 1
        guard s.entries.count > 1, outcome == .refused || e.inARow >= Self.failuresBeforeBackoff else { return nil }
        let first = e.downUntil == nil || e.downUntil! <= now
        e.downUntil = now + e.backoff
        let wait = e.backoff
        e.backoff = min(e.backoff * 2, Self.maxBackoff)
        if s.preferred == index { s.preferred = (index + 1) % s.entries.count }
        return first
          ? "endpoint \(e.endpoint.description) left alone for \(wait.components.seconds) s after \(e.inARow) failure\(e.inARow == 1 ? "" : "s") in a row"
          : nil
      }
    }
  }

  public var health: [Health] {
    let now = clock.instant()
    return state.withLock { s in
      s.entries.map { e in
        let state: String
        var left = 0
        if let until = e.downUntil, until > now {
          state = "backing_off"
          left = Int(((until - now) / .seconds(1)).rounded(.up))
        } else {
          state = e.downUntil == nil ? "up" : "retry_due"
        }
        return Health(
          endpoint: e.endpoint.description, state: state, requests: e.requests, failures: e.failures,
          retryInSeconds: left)
      }
    }
  }
}
