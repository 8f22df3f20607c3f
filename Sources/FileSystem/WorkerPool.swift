import Foundation

/// A few threads of our own that run blocking jobs (prefetching GETs), so neither FUSE's
/// threads nor Swift's cooperative pool wait on them.
final class WorkerPool: @unchecked Sendable {
  private let condition = NSCondition()
  private var jobs: [@Sendable () -> Void] = []

  init(threads: Int, name: String) {
    for i in 0..<threads {
      let thread = Thread { [unowned self] in self.loop() }
      thread.name = "\(name)-\(i)"
      thread.start()
    }
  }

  func submit(_ job: @escaping @Sendable () -> Void) {
    condition.lock()
    jobs.append(job)
    condition.signal()
    condition.unlock()
  }

  private func loop() {
    while true {
      condition.lock()
      while jobs.isEmpty { condition.wait() }
      let job = jobs.removeFirst()
      condition.unlock()
      job()
    }
  }
}
