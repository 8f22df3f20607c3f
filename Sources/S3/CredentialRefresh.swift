import Foundation

/// When credentials are used, refreshed or given up on: a pure state machine. Requests and the
/// background refresher feed it events with the time; it answers with actions, and
/// `RefreshingCredentials` does the I/O.
///
/// - Temporary credentials are refreshed ahead of their expiry: 5 minutes before it, or at
///   half their lifetime when that is shorter than 10 minutes.
/// - Keys from the shared files (`rechecks`) are looked at again every `recheckInterval`, so
///   an edit of `~/.aws/credentials` is picked up.
/// - A failed refresh keeps the current credentials until they expire, and is tried again
///   after a back-off (1 s doubling to 10 s). Once they have expired, requests fail at once
///   with the reason (no request waits on a provider that is down) until the next attempt is
///   due; then one request tries, and the mount recovers as soon as the provider answers.
/// - A request refused with ExpiredToken, InvalidToken or InvalidAccessKeyId marks those keys
///   stale: the next use refreshes, once, whoever asks first.
public struct CredentialRefresh: Sendable {
  public enum Action: Equatable, Sendable {
    /// Sign with these.
    case use(Credentials)
    /// Ask the provider now (only one caller at a time does; the others wait for its outcome).
    case refresh
    /// No usable credentials, and it is not yet time to ask the provider again.
    case fail(String)
  }

  public static let refreshAhead: TimeInterval = 300
  public static let recheckInterval: TimeInterval = 30
  public static let maximumBackoff: TimeInterval = 10

  public private(set) var current: Credentials?
  /// When `current` was obtained (its lifetime starts there).
  private var obtainedAt: Date?
  /// `current` was refused by the server: replace it before the next use.
  private var stale = false
  public private(set) var lastFailure: String?
  private var failures = 0
  private var retryAt: Date?
  /// Whether keys without an expiry are looked at again (they come from files that may change).
  let rechecks: Bool
  public private(set) var refreshCount = 0
  public private(set) var failureCount = 0

  public init(rechecks: Bool = false) { self.rechecks = rechecks }

  /// When the current credentials should be replaced, if ever.
  public var refreshAt: Date? {
    guard let current, let obtainedAt else { return nil }
    guard let expiration = current.expiration else {
      return rechecks ? obtainedAt.addingTimeInterval(Self.recheckInterval) : nil
    }
    let lifetime = expiration.timeIntervalSince(obtainedAt)
    let ahead = lifetime < 2 * Self.refreshAhead ? lifetime / 2 : Self.refreshAhead
    return expiration.addingTimeInterval(-max(0, ahead))
  }

  /// A request wants credentials at `now`.
  public func request(at now: Date) -> Action {
    if let current, !stale, current.expiration.map({ now < $0 }) ?? true { return .use(current) }
    if let retryAt, now < retryAt, let lastFailure { return .fail(lastFailure) }
    return .refresh
  }

  /// When the background refresher should next ask the provider: at `refreshAt`, or at the
  /// back-off after a failure; nil when nothing will ever need refreshing.
  public func nextBackgroundRefresh() -> Date? {
    if let retryAt { return retryAt }
    return refreshAt
  }

  /// Whether the background refresher should ask now.
  public func isDue(at now: Date) -> Bool {
    if stale || current == nil { return true }
    guard let due = nextBackgroundRefresh() else { return false }
    return now >= due
  }

  public mutating func refreshed(_ credentials: Credentials, at now: Date) {
    if current != nil { refreshCount += 1 }
    current = credentials
    obtainedAt = now
    stale = false
    failures = 0
    retryAt = nil
    lastFailure = nil
  }

  public mutating func refreshFailed(_ reason: String, at now: Date) {
    failures += 1
    failureCount += 1
    lastFailure = reason
    retryAt = now.addingTimeInterval(min(Self.maximumBackoff, pow(2, Double(min(failures - 1, 10)))))
  }

  /// A request signed with `accessKeyID` was refused as expired or unknown. True when those are
  /// the current keys (they are stale now); false when they were replaced meanwhile.
  public mutating func rejected(accessKeyID: String) -> Bool {
    guard current?.accessKeyID == accessKeyID else { return false }
    stale = true
    retryAt = nil
    return true
  }
}
