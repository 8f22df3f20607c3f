import Foundation
import Locking
import Testing

/// The pool of threads that runs the prefetch lane's and the header index's GETs: every job
/// runs, never more at once than the running limit, and a queued job wakes one thread, not
/// all of them.
@Suite struct WorkerPoolTests {
  /// Waits (up to 10 s) until `condition` holds.
  static func wait(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(10)
    while !condition() {
      if Date() > deadline { return false }
      usleep(1000)
    }
    return true
  }

  /// The demand lane's submit: taken only when a thread can start the job at once; with
  /// every thread busy it is refused (the caller runs the job itself), and taken again once a
  /// thread is free.
  @Test func aJobForAnIdleThreadOnlyIsRefusedWhileAllAreBusy() {
    let pool = WorkerPool(threads: 2, name: "t-idle", queueLimit: 2)
    let release = Monitor(false)
    let (started, done) = (Locked(0), Locked(0))
    for _ in 0..<2 {
      #expect(
        pool.submitIfIdle {
          started.withLock { $0 += 1 }
          release.withLockWaiting { $0 ? () : nil }
          done.withLock { $0 += 1 }
        })
    }
    #expect(Self.wait { started.withLock { $0 } == 2 })
    #expect(!pool.submitIfIdle { done.withLock { $0 += 100 } }, "taken with both threads busy")
    release.withLockNotifying { $0 = true }
    #expect(Self.wait { done.withLock { $0 } == 2 && pool.running == 0 })
    #expect(pool.submitIfIdle { done.withLock { $0 += 1 } })
    #expect(Self.wait { done.withLock { $0 } == 3 })
    #expect(pool.queued == 0)
  }

  @Test func everyJobRunsAndNoMoreRunAtOnceThanTheLimit() {
    let pool = WorkerPool(threads: 16, name: "t-limit")
    pool.limitRunning(to: 4)
    let (running, peak, done) = (Locked(0), Locked(0), Locked(0))
    // From four submitting threads at once, so submits race the workers.
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
      for _ in 0..<125 {
        pool.submit {
          let now = running.withLock { r -> Int in
            r += 1
            return r
          }
          peak.withLock { $0 = max($0, now) }
          usleep(200)
          running.withLock { $0 -= 1 }
          done.withLock { $0 += 1 }
        }
      }
    }
    #expect(Self.wait { done.withLock { $0 } == 500 })
    #expect(peak.withLock { $0 } <= 4)
    #expect(peak.withLock { $0 } >= 2)
  }

  @Test func raisingTheLimitStartsTheQueuedJobs() {
    let pool = WorkerPool(threads: 8, name: "t-raise")
    pool.limitRunning(to: 1)
    let gate = Monitor(false)
    let started = Locked(0)
    for _ in 0..<8 {
      pool.submit {
        started.withLock { $0 += 1 }
        gate.withLockWaiting { $0 ? () : nil }
      }
    }
    #expect(Self.wait { started.withLock { $0 } == 1 })
    usleep(20_000)
    #expect(started.withLock { $0 } == 1)
    pool.limitRunning(to: 8)
    #expect(Self.wait { started.withLock { $0 } == 8 })
    gate.withLockNotifying { $0 = true }
    #expect(Self.wait { pool.running == 0 })
  }

  /// With every job woken for by a broadcast, each of 64 idle threads woke for each job and
  /// all but one went back to sleep: thousands of context switches in a copy of 100 files.
  @Test func aQueuedJobWakesOneThreadNotAll() {
    let pool = WorkerPool(threads: 64, name: "t-wake")
    let done = Locked(0)
    // Let all 64 threads start and wait.
    pool.submit { done.withLock { $0 += 1 } }
    #expect(Self.wait { done.withLock { $0 } == 1 })
    usleep(50_000)
    for n in 2...101 {
      pool.submit { done.withLock { $0 += 1 } }
      #expect(Self.wait { done.withLock { $0 } == n })
    }
    // A broadcast woke 63 threads for nothing per job (6,300 here); a signal, about none.
    #expect(pool.futileWakeups < 100)
  }
}
