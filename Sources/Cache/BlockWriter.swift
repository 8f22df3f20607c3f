import Foundation
import Locking

/// One thread that writes blocks to the disk cache, fed through a queue bounded in bytes, so a
/// download hands a block over and goes on. `enqueue` never waits: when the block does not fit
/// it returns false and the caller skips caching it.
final class BlockWriter: Sendable {
  private let thread = WorkerPool(threads: 1, name: "em-disk-write")
  /// Bytes queued or being written.
  private let pending = Locked(0)
  private let idle = NSCondition()
  let capacity: Int

  init(capacity: Int) { self.capacity = capacity }

  var queuedBytes: Int { pending.withLock { $0 } }

  func enqueue(bytes: Int, _ job: @escaping @Sendable () -> Void) -> Bool {
    let fits = pending.withLock { queued in
      guard queued + bytes <= capacity else { return false }
      queued += bytes
      return true
    }
    guard fits else { return false }
    thread.submit { [pending, idle] in
      job()
      pending.withLock { $0 -= bytes }
      idle.lock()
      idle.broadcast()
      idle.unlock()
    }
    return true
  }

  /// Waits until every block queued so far is written.
  func drain() {
    idle.lock()
    while queuedBytes > 0 { idle.wait() }
    idle.unlock()
  }
}
