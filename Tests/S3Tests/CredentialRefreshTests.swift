import Foundation
import Locking
import TestSupport
import Testing

@testable import S3

/// A provider that hands out numbered credentials valid for `lifetime`, or fails while `down`.
final class CountingProvider: CredentialProvider {
  let clock: ManualClock
  let lifetime: TimeInterval
  let fetches = Locked(0)
  let down = Locked(false)
  /// When set, each fetch after the first waits until it is opened (true), so concurrent
  /// callers overlap the fetch under way.
  let gate: Monitor<Bool>?
  var name: String { "counting" }

  init(clock: ManualClock, lifetime: TimeInterval, gate: Monitor<Bool>? = nil) {
    self.clock = clock
    self.lifetime = lifetime
    self.gate = gate
  }

  func fetch() throws(CredentialError) -> Credentials {
    if let gate, fetches.withLock({ $0 }) > 0 { gate.withLockWaiting { $0 ? () : nil } }
    if down.withLock({ $0 }) { throw CredentialError("the provider is down") }
    let n = fetches.withLock {
      $0 += 1
      return $0
    }
    return Credentials(
      accessKeyID: "AKID\(n)", secretAccessKey: "secret\(n)", sessionToken: "token\(n)", source: name,
      expiration: clock.now().addingTimeInterval(lifetime))
  }
}

@Suite struct CredentialRefreshTests {
  let t0 = Date(timeIntervalSince1970: 1_800_000_000)

  func credentials(_ n: Int, expiring: Date?) -> Credentials {
    Credentials(accessKeyID: "AKID\(n)", secretAccessKey: "s", sessionToken: "t", source: "test", expiration: expiring)
  }

  @Test func longLivedCredentialsRefreshFiveMinutesBeforeExpiryAndShortOnesAtHalfTheirLife() {
    var long = CredentialRefresh()
    long.refreshed(credentials(1, expiring: t0.addingTimeInterval(3600)), at: t0)
    #expect(long.refreshAt == t0.addingTimeInterval(3300))
    var short = CredentialRefresh()
    short.refreshed(credentials(1, expiring: t0.addingTimeInterval(60)), at: t0)
    #expect(short.refreshAt == t0.addingTimeInterval(30))
    #expect(!short.isDue(at: t0.addingTimeInterval(29)) && short.isDue(at: t0.addingTimeInterval(30)))
    // Until they expire, requests use them, even once the refresh is due.
    #expect(short.request(at: t0.addingTimeInterval(59)) == .use(credentials(1, expiring: t0.addingTimeInterval(60))))
    #expect(short.request(at: t0.addingTimeInterval(60)) == .refresh)
    var fixed = CredentialRefresh()
    fixed.refreshed(credentials(1, expiring: nil), at: t0)
    #expect(fixed.refreshAt == nil && fixed.nextBackgroundRefresh() == nil)
    var files = CredentialRefresh(rechecks: true)
    files.refreshed(credentials(1, expiring: nil), at: t0)
    #expect(files.refreshAt == t0.addingTimeInterval(CredentialRefresh.recheckInterval))
  }

  @Test func aFailedRefreshKeepsWorkingKeysThenFailsFastAndRecovers() {
    var s = CredentialRefresh()
    let first = credentials(1, expiring: t0.addingTimeInterval(60))
    s.refreshed(first, at: t0)
    s.refreshFailed("down", at: t0.addingTimeInterval(30))
    #expect(s.request(at: t0.addingTimeInterval(40)) == .use(first))
    #expect(s.nextBackgroundRefresh() == t0.addingTimeInterval(31))
    // Expired, the provider was just asked and failed: no request waits, each says why.
    s.refreshFailed("down", at: t0.addingTimeInterval(60))
    #expect(s.request(at: t0.addingTimeInterval(60.5)) == .fail("down"))
    // The back-off doubles to at most 10 s; once it is over, one request asks again.
    for i in 0..<6 { s.refreshFailed("down", at: t0.addingTimeInterval(100 + Double(i))) }
    #expect(s.nextBackgroundRefresh() == t0.addingTimeInterval(105 + CredentialRefresh.maximumBackoff))
    #expect(s.request(at: t0.addingTimeInterval(116)) == .refresh)
    let second = credentials(2, expiring: t0.addingTimeInterval(200))
    s.refreshed(second, at: t0.addingTimeInterval(116))
    #expect(s.request(at: t0.addingTimeInterval(117)) == .use(second))
    #expect(s.refreshCount == 1 && s.failureCount == 8)
  }

  @Test func aRefusedKeyIsReplacedOnceAndAnOldRefusalChangesNothing() {
    var s = CredentialRefresh()
    s.refreshed(credentials(1, expiring: t0.addingTimeInterval(3600)), at: t0)
    let current = s.rejected(accessKeyID: "AKID1")
    #expect(current)
    #expect(s.request(at: t0.addingTimeInterval(1)) == .refresh)
    s.refreshed(credentials(2, expiring: t0.addingTimeInterval(3600)), at: t0.addingTimeInterval(1))
    let old = s.rejected(accessKeyID: "AKID1")
    #expect(!old)
    #expect(s.request(at: t0.addingTimeInterval(2)) == .use(credentials(2, expiring: t0.addingTimeInterval(3600))))
  }

  /// Eight threads that need credentials at once after expiry make one fetch between them.
  @Test func threadsThatFindTheKeysExpiredShareOneRefresh() throws {
    let clock = ManualClock(t0)
    let gate = Monitor(false)
    let provider = CountingProvider(clock: clock, lifetime: 60, gate: gate)
    let refreshing = RefreshingCredentials(provider: provider, clock: clock)
    #expect(try refreshing.current().accessKeyID == "AKID1")
    clock.advance(61)
    let keys = Locked<[String]>([])
    let started = Locked(0)
    let group = DispatchGroup()
    for _ in 0..<8 {
      group.enter()
      Thread.detachNewThread {
        started.withLock { $0 += 1 }
        if let key = try? refreshing.current().accessKeyID { keys.withLock { $0.append(key) } }
        group.leave()
      }
    }
    // The refresh is held until every thread has started: they ask while it is under way.
    try waitUntil("all eight threads started") { started.withLock { $0 } == 8 }
    gate.withLockNotifying { $0 = true }
    group.wait()
    #expect(provider.fetches.withLock { $0 } == 2)
    #expect(keys.withLock { $0 } == Array(repeating: "AKID2", count: 8))
    #expect(refreshing.status.refreshed == 1)
  }

  @Test func expiredKeysWithTheProviderDownFailFastWithTheReason() throws {
    let clock = ManualClock(t0)
    let provider = CountingProvider(clock: clock, lifetime: 60)
    let refreshing = RefreshingCredentials(provider: provider, clock: clock)
    let reasons = Locked<[String]>([])
    refreshing.setFailureHandler { reason in reasons.withLock { $0.append(reason) } }
    _ = try refreshing.current()
    provider.down.withLock { $0 = true }
    clock.advance(61)
    #expect(throws: CredentialError.self) { try refreshing.current() }
    // Within the back-off: no fetch, the same reason.
    let error = #expect(throws: CredentialError.self) { try refreshing.current() }
    #expect(error?.description.contains("the provider is down") == true)
    #expect(reasons.withLock { $0.count } == 1)
    provider.down.withLock { $0 = false }
    clock.advance(CredentialRefresh.maximumBackoff)
    #expect(try refreshing.current().accessKeyID == "AKID2")
  }
}
