import CANedge

/// Which logs of one session were recorded on a day, reading as few headers as it can, in as
/// few rounds of reads one after another as it can.
///
/// Two facts make most headers unnecessary:
/// - a split is uploaded after it starts recording, so a split uploaded before the day began
///   cannot be on it (its name says so: no read);
/// - the splits of a session share the header's session start and their first records come
///   from one monotonic clock, so their times grow with the split number. A search over the
///   session then finds the day's first and last split, and the splits in between are on the
///   day without reading theirs.
///
/// The search runs in rounds (`Search`): each round's headers can be read at once. With a
/// fan-out of 1 it is a binary search for both bounds side by side, about 2·log₂(n) headers
/// in log₂(n) rounds, the fewest headers for a server close by. With a fan-out of k (far from
/// the server, where a round trip costs more than a few small GETs) each round reads k
/// headers per bound and narrows it k + 1 times: log_{k+1}(n) rounds.
///
/// The search checks the second fact as it goes: if two headers of the "session" disagree on
/// the session start, one cannot be read, or the times read do not grow with the split number,
/// every candidate of that session is read instead.
enum DayPlacement {
  /// One log of a session, in split order.
  struct Log: Sendable {
    var ino: UInt64
    var name: LogFileName
    var key: String
    var etag: String
    var size: UInt64
  }

  /// How far the recording clock may run ahead of the upload name's: splits uploaded up to this
  /// long before the day began are still read.
  static let uploadSlack: UInt64 = 3_600 * 1_000_000_000
  /// The largest local offset (`--by-date-tz device`).
  static let maximumOffset: UInt64 = 14 * 3_600 * 1_000_000_000
  /// Headers read per bound and round when the server is far (`fanOut` of `Search`).
  static let farFanOut = 7

  /// The logs of `session` (in split order) placed on `day`. `time` gives a log's time,
  /// reading its header if it must; the search's rounds are read one log after another.
  static func logs(
    on day: Range<UInt64>, session: [Log], deviceClock: Bool, fanOut: Int = 1, time: (Log) -> LogTime
  ) -> [Log] {
    var search = Search(day: day, session: session, deviceClock: deviceClock, fanOut: fanOut)
    while case let wanted = search.next(), !wanted.isEmpty {
      for i in wanted { search.take(time(search.candidates[i]), at: i) }
    }
    return search.result ?? []
  }

  /// The placement of one session as a state machine of rounds: `next()` names the candidates
  /// whose headers it needs (read them in any order, at once), `take` hands each one in, and
  /// when `next()` returns none, `result` holds the day's logs.
  struct Search: Sendable {
    /// The session's logs that could be on the day by their upload names, in split order.
    let candidates: [Log]
    private let day: Range<UInt64>
    private let deviceClock: Bool
    private let fanOut: Int
    private var times: [Int: LogTime] = [:]
    /// False once the headers read break a fact the search relies on: then every candidate is read.
    private var consistent: Bool
    private var sessionStart: UInt64?
    private(set) var result: [Log]?

    init(day: Range<UInt64>, session: [Log], deviceClock: Bool, fanOut: Int) {
      let slack = uploadSlack + (deviceClock ? maximumOffset : 0)
      candidates = session.filter { UInt64($0.name.epoch) * 1_000_000_000 + slack >= day.lowerBound }
      self.day = day
      self.deviceClock = deviceClock
      self.fanOut = max(1, fanOut)
      // Logs that are not MF4 carry no header: their upload names place them, at no cost, and
      // upload order need not be split order.
      consistent = candidates.allSatisfy { $0.name.fileExtension.uppercased() == "MF4" }
      if candidates.isEmpty { result = [] }
    }

    /// Hands in the time of candidate `i`.
    mutating func take(_ time: LogTime, at i: Int) {
      guard times[i] == nil else { return }
      times[i] = time
      if time.source == .uploadName { consistent = false }
      if let s = time.sessionStart {
        if let known = sessionStart, known != s { consistent = false }
        sessionStart = sessionStart ?? s
      }
    }

    private func at(_ i: Int) -> UInt64? {
      times[i]?.placement(uploadEpoch: Int64(candidates[i].name.epoch), deviceClock: deviceClock)
    }

    /// The candidates to read in the next round, none when the result is known.
    mutating func next() -> [Int] {
      guard result == nil else { return [] }
      let count = candidates.count
      if consistent {
        // The first and the last candidate bound the session. Alone in the first round: most
        // sessions of a fleet are wholly on the day or off it, and need no other read.
        let missing = Set([0, count - 1]).filter { times[$0] == nil }
        if !missing.isEmpty { return missing.sorted() }
        if let earliest = at(0), let latest = at(count - 1), consistent, grows {
          if earliest >= day.upperBound || latest < day.lowerBound {
            result = []
            return []
          }
          if let lower = interval(day.lowerBound), let upper = interval(day.upperBound) {
            if lower.isEmpty && upper.isEmpty {
              result = Array(candidates[lower.lowerBound..<max(lower.lowerBound, upper.lowerBound)])
              return []
            }
            let probes = Set(Self.spread(lower, fanOut) + Self.spread(upper, fanOut)).filter { times[$0] == nil }
            if !probes.isEmpty { return probes.sorted() }
          }
        }
      }
      // Not one session as a device writes it: every candidate's own header decides.
      let missing = candidates.indices.filter { times[$0] == nil }
      if !missing.isEmpty { return missing }
      result = candidates.indices.filter { at($0).map(day.contains) ?? false }.map { candidates[$0] }
      return []
    }

    /// Whether the times read so far grow with the split number.
    private var grows: Bool {
      var last: UInt64 = 0
      for i in times.keys.sorted() {
        guard let t = at(i) else { continue }
        if t < last { return false }
        last = t
      }
      return true
    }

    /// Where the first candidate at or after `bound` can still be: after the last one read
    /// before it, up to the first one read at or after it. Nil if the times read do not grow
    /// with the split number.
    private func interval(_ bound: UInt64) -> Range<Int>? {
      var low = 0
      var high = candidates.count
      for (i, _) in times {
        guard let t = at(i) else { continue }
        if t < bound { low = max(low, i + 1) } else { high = min(high, i) }
      }
      return low <= high ? low..<high : nil
    }

    /// `k` candidates spread evenly over `range` (all of it when it is that short); with k = 1,
    /// its middle.
    static func spread(_ range: Range<Int>, _ k: Int) -> [Int] {
      guard !range.isEmpty else { return [] }
      if range.count <= k { return Array(range) }
      return (1...k).map { range.lowerBound + $0 * range.count / (k + 1) }
    }
  }
}
