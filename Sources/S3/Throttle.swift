import Foundation
import Locking

/// A back-off shared by every request of a mount. Each throttling answer (503 SlowDown, 429,
/// `Throttling`) raises a level; the next requests of every thread wait a random time (full
/// jitter) below a ceiling that doubles with the level, 50 ms to 5 s; each success after the
/// window lowers it again. So a store that sheds load sees the whole mount slow down, not each
/// thread retrying on its own.
final class Throttle: Sendable {
  private struct State: Sendable {
    var level = 0
    var until: ContinuousClock.Instant?
  }

  static let base: Duration = .milliseconds(50)
  static let ceiling: Duration = .seconds(5)
  private let state = Locked(State())
  private let clock: any MountClock

  init(clock: any MountClock) { self.clock = clock }

  /// Whether an answer says "slow down" rather than "broken".
  static func isThrottling(_ error: S3Error) -> Bool {
    guard case .service(let e) = error else { return false }
    return e.status == 429 || ["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"].contains(e.code)
  }

  /// A throttling answer: every request waits for a while.
  func slowDown() {
    let now = clock.instant()
    state.withLock { s in
      s.level = min(s.level + 1, 7)
      let window = min(Self.base * (1 << s.level), Self.ceiling)
      s.until = max(s.until ?? now, now + window)
    }
  }

  /// A success: once the window has passed, the level goes down a step.
  func succeeded() {
    let now = clock.instant()
    state.withLock { s in
      guard s.level > 0, s.until.map({ $0 <= now }) ?? true else { return }
      s.level -= 1
      if s.level == 0 { s.until = nil }
    }
  }

  /// How long a request starting now waits (`unit` in [0, 1): the jitter), or nil.
  func wait(unit: Double) -> Duration? {
    let now = clock.instant()
    guard let until = state.withLock({ $0.until }), until > now else { return nil }
    return (until - now) * max(0, min(unit, 1))
  }

  /// The level, for `.edgemount/status` (0: not throttled).
  var level: Int { state.withLock { $0.level } }
}
