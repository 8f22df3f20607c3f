import Foundation

/// A few threads of our own that run blocking jobs (prefetching GETs), so neither FUSE's
/// threads nor Swift's cooperative pool wait on them. The queue holds at most `queueLimit`
/// jobs: `submit` refuses more (returns false) instead of letting it grow.
///
/// The threads start with the first job and end when the pool is released (a filesystem that
/// is torn down, as in tests that make thousands of them), so they never outlive it.
public final class WorkerPool: Sendable {
  private struct Queue: Sendable {
    var jobs: [@Sendable () -> Void] = []
    var stopped = false
    var started = false
    var running = 0
    /// Jobs that may run at once (at most `threads`).
    var limit: Int
    /// Times a waiting thread woke and found nothing it could run.
    var futileWakeups = 0
  }

  /// What the threads share with the pool; they hold it, not the pool.
  private let queue: Monitor<Queue>
  private let threads: Int
  private let name: String
  public let queueLimit: Int

  /// `name`, a dash and a thread number name each thread, as `top -H` and `perf` show it;
  /// Linux refuses a thread name longer than 15 bytes.
  public init(threads: Int, name: String, queueLimit: Int = .max) {
    precondition(name.utf8.count + 1 + String(max(threads - 1, 0)).count <= 15, "thread name \(name) is too long")
    self.threads = threads
    self.name = name
    self.queueLimit = queueLimit
    queue = Monitor(Queue(limit: threads))
  }

  /// Lets at most `count` jobs (1 to `threads`) run at once from now on; the others wait in the
  /// queue. Each job of a prefetch lane holds a connection and its buffers: a lane sized for a
  /// far link runs fewer of them on a near one.
  public func limitRunning(to count: Int) {
    let limit = min(max(count, 1), threads)
    let changed = queue.withLock { q -> Bool in
      guard q.limit != limit else { return false }
      q.limit = limit
      return true
    }
    if changed { queue.withLockNotifying { _ in } }
  }

  /// Jobs waiting for a thread.
  public var queued: Int { queue.withLock { $0.jobs.count } }
  /// Jobs running now.
  public var running: Int { queue.withLock { $0.running } }
  /// Times a waiting thread was woken for nothing: each costs two context switches and a turn
  /// at the lock, which on a small machine is time the copy does not get.
  public var futileWakeups: Int { queue.withLock { $0.futileWakeups } }

  deinit {
    queue.withLockNotifying { $0.stopped = true }
  }

  /// Queues a job; false (and the job dropped) when the queue is full.
  @discardableResult
  public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
    // One waiting thread is enough for one job. A finished job's thread takes the next job
    // itself, so nothing else needs waking.
    let (accepted, start) = queue.withLockSignaling { q -> (Bool, Bool) in
      guard q.jobs.count < queueLimit else { return (false, false) }
      q.jobs.append(job)
      defer { q.started = true }
      return (true, !q.started)
    }
    if start { startThreads() }
    return accepted
  }

  /// Queues a job only if a thread can start it at once (fewer jobs running and queued than
  /// may run); false, and the job dropped, otherwise. For work a caller would rather do itself
  /// than wait for a thread.
  public func submitIfIdle(_ job: @escaping @Sendable () -> Void) -> Bool {
    let (accepted, start) = queue.withLockSignaling { q -> (Bool, Bool) in
      guard q.running + q.jobs.count < q.limit else { return (false, false) }
      q.jobs.append(job)
      defer { q.started = true }
      return (true, !q.started)
    }
    if start { startThreads() }
    return accepted
  }

  private func startThreads() {
    for i in 0..<threads {
      let thread = Thread { [queue] in Self.loop(queue) }
      thread.name = "\(name)-\(i)"
      thread.start()
    }
  }

  private static func loop(_ queue: Monitor<Queue>) {
    while true {
      var woken = false
      let job = queue.withLockWaiting { q -> (@Sendable () -> Void)?? in
        if q.running < q.limit, let job = q.jobs.first {
          q.jobs.removeFirst()
          q.running += 1
          return .some(job)
        }
        if q.stopped { return .some(nil) }
        if woken { q.futileWakeups += 1 }
        woken = true
        return nil
      }
      guard let job else { return }
      job()
      queue.withLock { $0.running -= 1 }
    }
  }
}
