import CANedge

/// Which logs of one session were recorded on a day, reading as few headers as it can.
///
/// Two facts make most headers unnecessary:
/// - a split is uploaded after it starts recording, so a split uploaded before the day began
///   cannot be on it (its name says so: no read);
/// - the splits of a session share the header's session start and their first records come
///   from one monotonic clock, so their times grow with the split number. A binary search
///   over the session then finds the day's first and last split with about 2·log₂(n) headers,
///   and the splits in between are on the day without reading theirs.
///
/// The search checks the second fact as it goes: if two headers of the "session" disagree on
/// the session start, or one cannot be read, every candidate of that session is read instead.
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

  /// The logs of `session` (in split order) placed on `day`. `time` gives a log's time,
  /// reading its header if it must.
  static func logs(
    on day: Range<UInt64>, session: [Log], deviceClock: Bool, time: (Log) -> LogTime
  ) -> [Log] {
    let slack = uploadSlack + (deviceClock ? maximumOffset : 0)
    let candidates = session.filter { UInt64($0.name.epoch) * 1_000_000_000 + slack >= day.lowerBound }
    guard !candidates.isEmpty else { return [] }
    var times: [Int: LogTime] = [:]
    // Logs that are not MF4 carry no header: their upload names place them, at no cost, and
    // upload order need not be split order.
    var consistent = candidates.allSatisfy { $0.name.fileExtension.uppercased() == "MF4" }
    var sessionStart: UInt64?
    func at(_ i: Int) -> UInt64 {
      let log = candidates[i]
      let t = times[i] ?? time(log)
      if times[i] == nil {
        times[i] = t
        if t.source == .uploadName { consistent = false }
        if let s = t.sessionStart {
          if let known = sessionStart, known != s { consistent = false }
          sessionStart = sessionStart ?? s
        }
      }
      return t.placement(uploadEpoch: Int64(log.name.epoch), deviceClock: deviceClock)
    }
    /// The first index whose time is at least `bound`.
    func lowerBound(_ bound: UInt64) -> Int {
      var low = 0
      var high = candidates.count
      while low < high {
        let mid = (low + high) / 2
        if at(mid) < bound { low = mid + 1 } else { high = mid }
      }
      return low
    }
    if consistent {
      // The first and the last candidate bound the session (and check that they agree).
      let earliest = at(0)
      let latest = at(candidates.count - 1)
      if consistent && (earliest >= day.upperBound || latest < day.lowerBound) { return [] }
      let first = lowerBound(day.lowerBound)
      let last = lowerBound(day.upperBound)
      // Still consistent after the search's reads: the splits between the bounds are the day's.
      if consistent { return Array(candidates[first..<max(first, last)]) }
    }
    return candidates.indices.filter { day.contains(at($0)) }.map { candidates[$0] }
  }
}
