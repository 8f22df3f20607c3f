import Foundation
import Locking

/// A clock that tests move by hand. `advance` moves both times and runs the jobs that fell due,
/// in deadline order, on the calling thread. A `sleep` returns at once and counts as an advance
/// by its duration (retries and back-off finish without waiting; `slept` says how long they
/// would have waited). Nothing in it reads the system's clock after `init`.
public final class ManualClock: MountClock {
  private struct Timer {
    var deadline: Duration
    var order: Int
    var job: @Sendable () -> Void
  }

  private struct State {
    var elapsed: Duration = .zero
    var timers: [Timer] = []
    var nextOrder = 0
    var slept: [Duration] = []
  }

  private let wallStart: Date
  private let instantStart = ContinuousClock.now
  private let state = Locked(State())

  public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { wallStart = start }

  public func now() -> Date { wallStart.addingTimeInterval(state.withLock { $0.elapsed }.seconds) }
  public func instant() -> ContinuousClock.Instant { instantStart + state.withLock { $0.elapsed } }

  public func sleep(for duration: Duration, wake: Wakeup?) {
    state.withLock { $0.slept.append(duration) }
    advance(by: duration)
  }

  public func schedule(after delay: Duration, _ job: @escaping @Sendable () -> Void) {
    state.withLock {
      $0.timers.append(Timer(deadline: $0.elapsed + delay, order: $0.nextOrder, job: job))
      $0.nextOrder += 1
    }
  }

  /// Moves time on by `duration`, running each job that falls due at its own time.
  public func advance(by duration: Duration) {
    let end = state.withLock { $0.elapsed + duration }
    while true {
      let due = state.withLock { s -> Timer? in
        guard let next = s.timers.filter({ $0.deadline <= end }).min(by: { ($0.deadline, $0.order) < ($1.deadline, $1.order) })
        else {
          s.elapsed = max(s.elapsed, end)
          return nil
        }
        s.timers.removeAll { $0.order == next.order }
        s.elapsed = max(s.elapsed, next.deadline)
        return next
      }
      guard let due else { return }
      due.job()
    }
  }

  public func advance(_ seconds: TimeInterval) { advance(by: .milliseconds(Int64((seconds * 1000).rounded()))) }

  /// Jobs scheduled and not yet run.
  public var pendingJobs: Int { state.withLock { $0.timers.count } }
  /// Every sleep asked of this clock, in order.
  public var slept: [Duration] { state.withLock { $0.slept } }
}
