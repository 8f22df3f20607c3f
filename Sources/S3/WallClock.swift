import Foundation

/// Time as an input: what "now" is, and waiting. Credential expiry, refresh-ahead and their
/// back-off read it here, so tests drive them with a manual clock instead of sleeping.
public protocol WallClock: Sendable {
  func now() -> Date
  /// Waits `duration`, or less when `wake` is signalled.
  func sleep(for duration: Duration, wake: Wakeup)
}

/// A wait that can be cut short (a refresher told that a request saw its key refused).
public final class Wakeup: Sendable {
  private let condition = NSCondition()
  nonisolated(unsafe) private var signalled = false  // guarded by `condition`

  public init() {}

  public func signal() {
    condition.lock()
    signalled = true
    condition.broadcast()
    condition.unlock()
  }

  /// Waits until signalled or `deadline`; true when signalled. Clears the signal.
  public func wait(until deadline: Date) -> Bool {
    condition.lock()
    defer {
      signalled = false
      condition.unlock()
    }
    while !signalled {
      if !condition.wait(until: deadline) { return signalled }
    }
    return true
  }
}

/// The system's clock.
public struct SystemWallClock: WallClock {
  public init() {}
  public func now() -> Date { Date() }
  public func sleep(for duration: Duration, wake: Wakeup) {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    _ = wake.wait(until: Date().addingTimeInterval(seconds))
  }
}
