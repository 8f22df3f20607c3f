import Glibc

/// A value guarded by a pthread mutex: `withLock` gives exclusive access.
///
/// Used instead of the Synchronization module's `Mutex` because its Linux implementation
/// (raw futexes) is invisible to ThreadSanitizer, which then reports every guarded access as a
/// race; pthread mutexes are intercepted, so `scripts/stress` finds real races only.
public final class Locked<Value>: @unchecked Sendable {
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
