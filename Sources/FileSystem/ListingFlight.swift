import Foundation

/// A folder listing under way; other callers for the same folder wait for its outcome.
final class ListingFlight: @unchecked Sendable {
  private let condition = NSCondition()
  private var done = false
  private var failure: FSError?

  func finish(_ error: FSError?) {
    condition.lock()
    done = true
    failure = error
    condition.broadcast()
    condition.unlock()
  }

  func wait() -> FSError? {
    condition.lock()
    defer { condition.unlock() }
    while !done { condition.wait() }
    return failure
  }
}
