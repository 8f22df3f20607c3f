import Foundation
import Locking
import Logging

/// The credentials every request signs with, kept fresh for the life of a mount: a
/// `CredentialProvider` asked again before what it gave expires, by a background thread, so no
/// request waits for a refresh while the current credentials still work (`CredentialRefresh`
/// decides when; this type does the asking).
public final class RefreshingCredentials: Sendable {
  public let provider: any CredentialProvider
  private let clock: any MountClock
  private let state: Locked<CredentialRefresh>
  /// A refresh under way: every thread that needs one waits for it instead of asking again.
  private let flights = FlightTable<Int, Result<Credentials, CredentialError>>()
  private let wakeup = Wakeup()
  private let running = Locked(false)
  private let logger: Logger
  /// Told the reason of each failed refresh (the mount writes it to `.edgemount/errors`).
  private let onFailure: Locked<(@Sendable (String) -> Void)?> = Locked(nil)

  /// `rechecks`: keys without an expiry are asked for again every 30 s (they come from files).
  public init(
    provider: any CredentialProvider, rechecks: Bool = false, clock: any MountClock = SystemClock(),
    logger: Logger = Logger(label: "edgemount.credentials")
  ) {
    self.provider = provider
    self.clock = clock
    self.logger = logger
    state = Locked(CredentialRefresh(rechecks: rechecks))
  }

  /// Fixed credentials (tests, tools).
  public convenience init(_ credentials: Credentials) {
    self.init(provider: StaticCredentialProvider(credentials))
    state.withLock { $0.refreshed(credentials, at: clock.now()) }
  }

  public func setFailureHandler(_ handler: @escaping @Sendable (String) -> Void) {
    onFailure.withLock { $0 = handler }
  }

  /// The credentials to sign with now: the current ones, or fresh ones when they have expired
  /// or were refused; fails at once while the provider is down and they have expired.
  public func current() throws(CredentialError) -> Credentials {
    switch state.withLock({ $0.request(at: clock.now()) }) {
    case .use(let credentials): return credentials
    case .fail(let why): throw CredentialError("no valid AWS credentials (\(provider.name)): \(why)")
    case .refresh: return try refresh().get()
    }
  }

  /// A request signed with `credentials` was refused as expired or unknown: the next use
  /// refreshes. True when retrying makes sense (those were current, or were replaced already).
  public func rejected(_ credentials: Credentials) -> Bool {
    guard provider.canChange else { return false }
    state.withLock { _ = $0.rejected(accessKeyID: credentials.accessKeyID) }
    return true
  }

  /// Asks the provider once for all threads; a failure keeps credentials that still work.
  private func refresh() -> Result<Credentials, CredentialError> {
    flights.outcome(for: 0) {
      // Another thread may have refreshed while this one waited for the flight.
      let now = clock.now()
      if let still = state.withLock({ s -> Credentials? in
        guard !s.isDue(at: now), case .use(let credentials) = s.request(at: now) else { return nil }
        return credentials
      }) {
        return .success(still)
      }
      do throws(CredentialError) {
        let fresh = try provider.fetch()
        let first = state.withLock { s -> Bool in
          let first = s.current == nil
          s.refreshed(fresh, at: clock.now())
          return first
        }
        if !first {
          logger.info(
            "credentials refreshed from \(provider.name)\(fresh.expiration.map { ", valid until \(Self.format($0))" } ?? "")")
        }
        return .success(fresh)
      } catch {
        let (action, failures) = state.withLock { s in
          s.refreshFailed(error.description, at: clock.now())
          return (s.request(at: clock.now()), s.failureCount)
        }
        let message = "refreshing AWS credentials from \(provider.name) failed: \(error.description)"
        logger.warning("\(message)")
        if failures <= 3 || failures % 20 == 0 { onFailure.withLock { $0 }?(message) }
        if case .use(let still) = action { return .success(still) }
        return .failure(error)
      }
    }
  }

  /// Starts the thread that refreshes ahead of expiry (once; a no-op for keys that never change).
  public func startRefreshing() {
    guard state.withLock({ $0.current == nil || $0.nextBackgroundRefresh() != nil }) else { return }
    guard
      running.withLock({ (r: inout Bool) -> Bool in
        defer { r = true }
        return !r
      })
    else { return }
    let thread = Thread { [self] in
      while running.withLock({ $0 }) {
        let now = clock.now()
        if state.withLock({ $0.isDue(at: now) }) {
          _ = refresh()
          continue
        }
        let next = state.withLock { $0.nextBackgroundRefresh() }
        let wait = next.map { max(0.05, $0.timeIntervalSince(now)) } ?? 3600
        clock.sleep(for: .milliseconds(Int64(min(wait, 3600) * 1000)), wake: wakeup)
      }
    }
    thread.name = "em-credentials"
    thread.start()
  }

  public func stopRefreshing() {
    running.withLock { $0 = false }
    wakeup.signal()
  }

  /// What `.edgemount/status` shows: never a key.
  public struct Status: Sendable {
    public var source: String
    public var expiresAt: Date?
    public var refreshed: Int
    public var refreshFailed: Int
    public var lastFailure: String?
  }

  public var status: Status {
    state.withLock { s in
      Status(
        source: provider.name, expiresAt: s.current?.expiration, refreshed: s.refreshCount,
        refreshFailed: s.failureCount, lastFailure: s.lastFailure)
    }
  }

  static func format(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    return f.string(from: date)
  }
}
