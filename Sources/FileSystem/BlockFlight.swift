import Locking

/// A block's GET under way: its outcome, which every reader of the block may wait for, and
/// the bytes that have arrived so far, for a reader that needs only the start of the block.
///
/// The first read of a log (`head`, an MF4 reader taking its header) needs a few KiB of a
/// 1 MiB block: it is answered once those bytes are in, not when the block's last byte is. On
/// a link of 100 Mbit/s a whole block takes 84 ms more than its first 128 KiB.
final class BlockFlight: Sendable {
  private let outcome = Flight<Result<[UInt8], FSError>?>()
  private let parts = Locked(Parts())

  /// Readers waiting for a part of the block. Closed when the block's outcome is known: a
  /// reader that comes later takes the outcome.
  private struct Parts: Sendable {
    var waiting: [(range: Range<Int>, flight: Flight<[UInt8]?>)] = []
    var closed = false
  }

  init() {}

  /// Sets the outcome (nil: a prefetch that was dropped) and sends every reader of a part to it.
  func finish(_ result: Result<[UInt8], FSError>?) {
    outcome.finish(result)
    let waiting = parts.withLock { p in
      p.closed = true
      defer { p.waiting = [] }
      return p.waiting
    }
    for waiter in waiting { waiter.flight.finish(nil) }
  }

  /// The block's outcome, once known; nil: the prefetch was dropped, fetch the block anew.
  func wait() -> Result<[UInt8], FSError>? { outcome.wait() }

  /// Bytes `range` of the block as soon as they have arrived, or nil when the block's outcome
  /// came first (then `wait()` has it, whatever it is).
  func waitForPart(_ range: Range<Int>) -> [UInt8]? {
    let flight = Flight<[UInt8]?>()
    let registered = parts.withLock { p -> Bool in
      guard !p.closed else { return false }
      p.waiting.append((range, flight))
      return true
    }
    return registered ? flight.wait() : nil
  }

  /// The bytes of the block received so far, from its first, on the thread receiving them:
  /// readers whose part is complete get a copy of it now.
  func arrived(_ bytes: UnsafeRawBufferPointer) {
    let ready = parts.withLock { p -> [(range: Range<Int>, flight: Flight<[UInt8]?>)] in
      guard !p.waiting.isEmpty else { return [] }
      let done = p.waiting.filter { $0.range.upperBound <= bytes.count }
      p.waiting.removeAll { $0.range.upperBound <= bytes.count }
      return done
    }
    for waiter in ready { waiter.flight.finish(Array(bytes[waiter.range])) }
  }
}
