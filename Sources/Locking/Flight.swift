import Foundation

/// Work under way (a folder's listing, a log's header read) whose outcome other callers for
/// the same thing wait for, instead of doing it again.
/// `@unchecked`: `outcome` is only touched with `condition` held.
public final class Flight<Outcome: Sendable>: @unchecked Sendable {
  public init() {}

  private let condition = NSCondition()
  private var outcome: Outcome?

  public func finish(_ value: Outcome) {
    condition.lock()
    outcome = value
    condition.broadcast()
    condition.unlock()
  }

  public func wait() -> Outcome {
    condition.lock()
    defer { condition.unlock() }
    while outcome == nil { condition.wait() }
    return outcome!
  }
}
