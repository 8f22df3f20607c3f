import Foundation

/// A few threads of our own that run blocking jobs (prefetching GETs), so neither FUSE's
/// threads nor Swift's cooperative pool wait on them. The queue holds at most `queueLimit`
/// jobs: `submit` refuses more (returns false) instead of letting it grow.
///
/// The threads start with the first job and end when the pool is released (a filesystem that
/// is torn down, as in tests that make thousands of them), so they never outlive it.
public final class WorkerPool: @unchecked Sendable {
  /// What the threads share with the pool; they hold it, not the pool.
  private final class Queue: @unchecked Sendable {
    let condition = NSCondition()
    var jobs: [@Sendable () -> Void] = []
    var stopped = false
    var started = false
    var running = 0
  }

  private let queue = Queue()
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
  }

  /// Jobs waiting for a thread.
  public var queued: Int {
    queue.condition.lock()
    defer { queue.condition.unlock() }
    return queue.jobs.count
  }

  /// Jobs running now.
  public var running: Int {
    queue.condition.lock()
    defer { queue.condition.unlock() }
    return queue.running
  }

  deinit {
    queue.condition.lock()
    queue.stopped = true
    queue.condition.broadcast()
    queue.condition.unlock()
  }

  /// Queues a job; false (and the job dropped) when the queue is full.
  @discardableResult
  public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
    queue.condition.lock()
    guard queue.jobs.count < queueLimit else {
      queue.condition.unlock()
      return false
    }
    if !queue.started {
      queue.started = true
      for i in 0..<threads {
        let thread = Thread { [queue] in Self.loop(queue) }
        thread.name = "\(name)-\(i)"
        thread.start()
      }
    }
    queue.jobs.append(job)
    queue.condition.signal()
    queue.condition.unlock()
    return true
  }

  private static func loop(_ queue: Queue) {
    while true {
      queue.condition.lock()
      while queue.jobs.isEmpty && !queue.stopped { queue.condition.wait() }
      if queue.jobs.isEmpty {
        queue.condition.unlock()
        return
      }
      let job = queue.jobs.removeFirst()
      queue.running += 1
      queue.condition.unlock()
      job()
      queue.condition.lock()
      queue.running -= 1
      queue.condition.unlock()
    }
  }
}
