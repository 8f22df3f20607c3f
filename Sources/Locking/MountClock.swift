import Foundation

/// Time as an input: what "now" is (wall time for expiry dates and mtimes, a monotonic
/// instant for TTLs and elapsed times), waiting, and running a job later. Every layer that
/// depends on time (credential refresh, retries and their back-off, listing TTLs, the delete
/// grace) takes one at its entry, so tests drive it with a manual clock instead of sleeping.
/// Model: swift-nio's and hummingbird's injected clocks.
public protocol MountClock: Sendable {
  /// Wall time.
  func now() -> Date
  /// Monotonic time, for TTLs and durations.
  func instant() -> ContinuousClock.Instant
  /// Waits `duration`, or less when `wake` is signalled.
  func sleep(for duration: Duration, wake: Wakeup?)
  /// Runs `job` once, on another thread, `delay` from now.
  func schedule(after delay: Duration, _ job: @escaping @Sendable () -> Void)
}

extension MountClock {
  public func sleep(for duration: Duration) { sleep(for: duration, wake: nil) }
}

extension Duration {
  /// The duration in seconds, as a `TimeInterval`.
  public var seconds: Double {
    Double(components.seconds) + Double(components.attoseconds) / 1e18
  }
}

/// A wait that can be cut short (a refresher told that a request saw its key refused).
public final class Wakeup: Sendable {
  private let signalled = Monitor(false)

  public init() {}

  public func signal() { signalled.withLockNotifying { $0 = true } }

  /// Waits until signalled or `deadline`; true when signalled. Clears the signal.
  public func wait(until deadline: Date) -> Bool {
    signalled.withLockWaiting(until: deadline) { (signalled: inout Bool, timedOut: Bool) -> Bool? in
      if signalled {
        signalled = false
        return true
      }
      return timedOut ? false : nil
    } ?? false
  }
}

/// The system's clocks; `schedule` runs on a Dispatch global queue.
public struct SystemClock: MountClock {
  public init() {}
  public func now() -> Date { Date() }
  public func instant() -> ContinuousClock.Instant { .now }
  public func sleep(for duration: Duration, wake: Wakeup?) {
    guard duration > .zero else { return }
    if let wake {
      _ = wake.wait(until: Date().addingTimeInterval(duration.seconds))
    } else {
      Thread.sleep(forTimeInterval: duration.seconds)
    }
  }
  public func schedule(after delay: Duration, _ job: @escaping @Sendable () -> Void) {
    DispatchQueue.global().asyncAfter(deadline: .now() + delay.seconds, execute: job)
  }
}
