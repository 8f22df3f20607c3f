import Foundation

/// Work under way (a folder's listing, a log's header read) whose outcome other callers for
/// the same thing wait for, instead of doing it again.
final class Flight<Outcome: Sendable>: @unchecked Sendable {
  private let condition = NSCondition()
  private var outcome: Outcome?

  func finish(_ value: Outcome) {
    condition.lock()
    outcome = value
    condition.broadcast()
    condition.unlock()
  }

  func wait() -> Outcome {
    condition.lock()
    defer { condition.unlock() }
    while outcome == nil { condition.wait() }
    return outcome!
  }
}
