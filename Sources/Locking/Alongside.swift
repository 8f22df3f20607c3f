import Foundation

/// Runs `side` on a thread of its own while the caller runs its own work, and hands back its
/// result when asked: two requests that do not depend on each other cost one round trip, not
/// two (a save's check of the server's version beside its validation's listing).
public final class Alongside<Value: Sendable>: Sendable {
  private let flight = Flight<Value>()

  public init(_ side: @escaping @Sendable () -> Value) {
    let flight = flight
    let thread = Thread { flight.finish(side()) }
    thread.name = "em-alongside"
    thread.start()
  }

  /// The side's result, waiting for it if it has not finished.
  public var value: Value { flight.wait() }
}
