/// The `Flight`s under way, by what they are for: the first caller for a key does the work,
/// and callers for the same key meanwhile wait for its outcome instead of doing it again.
public final class FlightTable<Key: Hashable & Sendable, Outcome: Sendable>: Sendable {
  public init() {}

  private let flights = Locked<[Key: Flight<Outcome>]>([:])

  /// Whether a run for `key` is under way.
  public func isUnderWay(_ key: Key) -> Bool { flights.withLock { $0[key] != nil } }

  /// `work`'s outcome for `key`: run here, or the one a run already under way gives.
  public func outcome(for key: Key, _ work: () -> Outcome) -> Outcome {
    let (flight, mine) = flights.withLock { flights -> (Flight<Outcome>, Bool) in
      if let flight = flights[key] { return (flight, false) }
      let flight = Flight<Outcome>()
      flights[key] = flight
      return (flight, true)
    }
    guard mine else { return flight.wait() }
    let outcome = work()
    flights.withLock { $0[key] = nil }
    flight.finish(outcome)
    return outcome
  }
}
