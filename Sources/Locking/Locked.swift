import Foundation
import Glibc

/// A value guarded by a pthread mutex: `withLock` gives exclusive access.
///
/// Used instead of the Synchronization module's `Mutex` because its Linux implementation
/// (raw futexes) is invisible to ThreadSanitizer, which then reports every guarded access as a
/// race; pthread mutexes are intercepted, so `scripts/stress` finds real races only.
///
/// Sendable only when `Value` is, as swift-nio's `NIOLockedValueBox`: a lock does not make a
/// non-Sendable value safe to hand to another thread.
public final class Locked<Value> {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private var value: Value

  public init(_ value: Value) {
    self.value = value
    mutex = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body(&value)
  }
}

/// `@unchecked`: `value` is only touched with `mutex` held.
extension Locked: @unchecked Sendable where Value: Sendable {}

/// A value guarded by a pthread mutex with a condition variable: `withLock` as in `Locked`,
/// plus waiting until another thread changes the value (`wait` releases the lock meanwhile).
/// The one primitive for "wait for an outcome": `Flight` and `Wakeup` are built on it.
public final class Monitor<Value> {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>
  private var value: Value

  public init(_ value: Value) {
    self.value = value
    mutex = .allocate(capacity: 1)
    condition = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
  }

  deinit {
    pthread_cond_destroy(condition)
    pthread_mutex_destroy(mutex)
    condition.deallocate()
    mutex.deallocate()
  }

  /// Reads or changes the value without waking waiters (a change nobody waits for).
  public func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body(&value)
  }

  /// Runs `body` with the lock held; `body` returns nil to wait for a change and try again.
  public func withLockWaiting<Result>(_ body: (inout Value) -> Result?) -> Result {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    while true {
      if let result = body(&value) { return result }
      pthread_cond_wait(condition, mutex)
    }
  }

  /// As `withLockWaiting`, but gives up at `deadline` (wall time): then `body` runs once more
  /// with `timedOut` true and its answer (nil included) is returned.
  public func withLockWaiting<Result>(until deadline: Date, _ body: (inout Value, _ timedOut: Bool) -> Result?)
    -> Result?
  {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    let seconds = deadline.timeIntervalSince1970
    var limit = timespec(tv_sec: Int(seconds.rounded(.down)), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
    while true {
      if let result = body(&value, false) { return result }
      if pthread_cond_timedwait(condition, mutex, &limit) == ETIMEDOUT { return body(&value, true) }
    }
  }

  /// Changes the value and wakes every waiter.
  public func withLockNotifying<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure)
    -> Result
  {
    pthread_mutex_lock(mutex)
    defer {
      pthread_cond_broadcast(condition)
      pthread_mutex_unlock(mutex)
    }
    return try body(&value)
  }

  /// Changes the value and wakes one waiter: for waiters that all wait for the same thing,
  /// where any one of them can take what the change made (a job queued for a pool's threads).
  /// Waking them all would have each take the lock only to find the job gone.
  public func withLockSignaling<Result>(_ body: (inout Value) -> Result) -> Result {
    pthread_mutex_lock(mutex)
    defer {
      pthread_cond_signal(condition)
      pthread_mutex_unlock(mutex)
    }
    return body(&value)
  }
}

/// `@unchecked`: `value` is only touched with `mutex` held.
extension Monitor: @unchecked Sendable where Value: Sendable {}
