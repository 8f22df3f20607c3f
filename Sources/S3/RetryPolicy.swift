/// When and how long to wait before trying a failed request again: exponential backoff with
/// full jitter, bounded both in attempts and in total time.
public struct RetryPolicy: Sendable, Equatable {
  public var maxAttempts: Int
  public var baseDelay: Duration
  public var maxDelay: Duration
  /// No retry starts once this much time has gone by since the first attempt.
  public var deadline: Duration

  public init(
    maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(2),
    deadline: Duration = .seconds(20)
  ) {
    self.maxAttempts = maxAttempts
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
    self.deadline = deadline
  }

  /// No retries at all (used by the start-up check, so a wrong secret fails at once).
  public static let none = RetryPolicy(maxAttempts: 1)

  /// Whether an error is worth another attempt: server-side faults, throttling and network
  /// hiccups are; client errors (bad auth, missing object, failed precondition) are not.
  public func isRetryable(_ error: S3Error) -> Bool {
    switch error {
    case .service(let e):
      if e.status >= 500 || e.status == 429 { return true }
      return ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"].contains(e.code)
    case .transport(let t):
      switch t.kind {
      case .connect, .timeout, .reset, .shortBody: return true
      case .tls, .resolve, .other: return false
      }
    case .invalidResponse:
      return true  // a truncated or garbled body from a flaky proxy
    case .credentials:
      return false  // the refresher tries again on its own schedule
    }
  }

  /// The wait before attempt `attempt` (2, 3, …): a random point in [0, min(maxDelay, base·2^(attempt-2))].
  /// `unit` is a random number in [0, 1), passed in so tests can check the bounds.
  public func delay(beforeAttempt attempt: Int, unit: Double) -> Duration {
    let exponent = max(0, min(attempt - 2, 30))
    let ceiling = min(maxDelay, baseDelay * (1 << exponent))
    return ceiling * max(0, min(unit, 1))
  }

  /// The policy for a link with this round trip: no wait before a retry is shorter than a round
  /// trip's worth of backoff, the longest wait is at least 8 round trips, and the time retries
  /// may take at least 100 round trips (on loopback and to a near region, the policy as it is).
  public func scaled(toRoundTrip roundTrip: Duration?) -> RetryPolicy {
    guard let roundTrip, roundTrip > .zero, maxAttempts > 1 else { return self }
    var scaled = self
    scaled.baseDelay = max(baseDelay, roundTrip)
    scaled.maxDelay = max(maxDelay, roundTrip * 8)
    scaled.deadline = max(deadline, roundTrip * 100)
    return scaled
  }

  /// Whether attempt number `attempt` (1-based) may start after `elapsed` time.
  public func allowsAttempt(_ attempt: Int, elapsed: Duration) -> Bool {
    attempt == 1 || (attempt <= maxAttempts && elapsed < deadline)
  }
}
