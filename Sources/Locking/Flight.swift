/// Work under way (a folder's listing, a log's header read, a block's GET) whose outcome other
/// callers for the same thing wait for, instead of doing it again.
public final class Flight<Outcome: Sendable>: Sendable {
  private let outcome = Monitor<Outcome?>(nil)

  public init() {}

  /// Sets the outcome (the first one counts) and wakes every waiter.
  public func finish(_ value: Outcome) {
    outcome.withLockNotifying { if $0 == nil { $0 = value } }
  }

  public func wait() -> Outcome { outcome.withLockWaiting { $0 } }
}
