import CANedge
import DemoFleet
import Testing

@testable import FileSystem

/// `DayPlacement`: the logs it places on a day are exactly those whose first record falls on
/// it (checked against reading every header), while it reads about 2·log₂(n) headers a session.
@Suite struct DayPlacementTests {
  static let second: UInt64 = 1_000_000_000
  let day = ByDateDay("2026-12-01")!

  /// A session of `count` splits of `length` seconds from `start` (seconds since 1970), each
  /// uploaded `delay` seconds after it closed. `ext` picks the file type.
  func session(start: Int64, count: Int, length: Int64, delay: Int64, ext: String = "MF4") -> (
    [DayPlacement.Log], [UInt64: LogTime]
  ) {
    var logs: [DayPlacement.Log] = []
    var times: [UInt64: LogTime] = [:]
    for i in 0..<count {
      let first = start + Int64(i) * length
      let upload = first + length + delay
      let fileName = String(format: "%08d-%08X.%@", i + 1, UInt32(upload), ext)
      let log = DayPlacement.Log(
        ino: UInt64(i + 100), name: LogFileName(fileName)!, key: "D/1/\(fileName)", etag: "e\(i)",
        size: 1)
      logs.append(log)
      times[log.ino] =
        ext == "MF4"
        ? LogTime(
          header: MF4Header(
            finalized: false, sessionStartNanoseconds: UInt64(start) * Self.second,
            firstRecordOffsetNanoseconds: UInt64(Int64(i) * length) * Self.second + 250_000_000))
        : LogTime(unreadable: "compressed")
    }
    return (logs, times)
  }

  func place(_ logs: [DayPlacement.Log], _ times: [UInt64: LogTime], on day: ByDateDay) -> ([UInt64], reads: Int) {
    var reads = 0
    let placed = DayPlacement.logs(on: day.nanoseconds, session: logs, deviceClock: false) { log in
      reads += 1
      return times[log.ino]!
    }
    return (placed.map(\.ino), reads)
  }

  /// A session of 1 to `maxCount` splits of random length and upload delay around the test's
  /// day, and a day to place it on.
  func randomSession(_ rng: inout SplitMix64, maxCount: UInt64) -> (
    logs: [DayPlacement.Log], times: [UInt64: LogTime], probe: ByDateDay, count: Int, start: Int64, length: Int64
  ) {
    let count = 1 + Int(rng.next() % maxCount)
    let start = day.start + Int64(rng.next() % (6 * 86_400)) - 3 * 86_400
    let length = 1 + Int64(rng.next() % 7200)
    let delay = Int64(rng.next() % (10 * 86_400))
    let (logs, times) = session(start: start, count: count, length: length, delay: delay)
    let probe = ByDateDay(containing: day.start + Int64(rng.next() % (4 * 86_400)) - 2 * 86_400)
    return (logs, times, probe, count, start, length)
  }

  func everyHeader(_ logs: [DayPlacement.Log], _ times: [UInt64: LogTime], on day: ByDateDay) -> [UInt64] {
    logs.filter { day.nanoseconds.contains(times[$0.ino]!.placement(uploadEpoch: Int64($0.name.epoch), deviceClock: false)) }
      .map(\.ino)
  }

  @Test func aLongSessionIsPlacedExactlyWithLogarithmicReads() {
    // 1,000 splits of 10 minutes from 3 hours before the day: about a week of recording.
    let (logs, times) = session(start: day.start - 3 * 3600, count: 1000, length: 600, delay: 30)
    let (placed, reads) = place(logs, times, on: day)
    #expect(placed == everyHeader(logs, times, on: day))
    #expect(placed.count == 144)
    // Splits uploaded before the day began are skipped by name; the rest are searched.
    #expect(reads <= 2 * 10 + 2, "\(reads) headers read")
  }

  @Test func anOfflineDeviceUploadingAWeekLateCostsNoMoreReads() {
    let (logs, times) = session(start: day.start - 3 * 3600, count: 1000, length: 600, delay: 7 * 86_400)
    let (placed, reads) = place(logs, times, on: day)
    #expect(placed == everyHeader(logs, times, on: day))
    #expect(reads <= 2 * 10 + 2, "\(reads) headers read")
  }

  @Test func aSessionAcrossMidnightIsSplitBetweenTheTwoDays() {
    let (logs, times) = session(start: day.start + 86_400 - 1800, count: 6, length: 600, delay: 5)
    let next = ByDateDay("2026-12-02")!
    let (first, _) = place(logs, times, on: day)
    let (second, _) = place(logs, times, on: next)
    #expect(first == [100, 101, 102])
    #expect(second == [103, 104, 105])
  }

  @Test func sessionsBeforeOrAfterTheDayCostTwoReads() {
    let (before, t1) = session(start: day.start - 5 * 86_400, count: 500, length: 600, delay: 8 * 86_400)
    #expect(place(before, t1, on: day).0.isEmpty)
    #expect(place(before, t1, on: day).reads == 2)
    let (after, t2) = session(start: day.start + 2 * 86_400, count: 500, length: 600, delay: 5)
    let result = place(after, t2, on: day)
    #expect(result.0.isEmpty && result.reads == 2)
    // Uploaded before the day: no read at all.
    let (old, t3) = session(start: day.start - 30 * 86_400, count: 500, length: 600, delay: 5)
    #expect(place(old, t3, on: day).reads == 0)
  }

  @Test func filesWithoutAHeaderArePlacedByUploadName() {
    let (logs, times) = session(start: day.start - 1200, count: 10, length: 600, delay: 0, ext: "MFC")
    let (placed, _) = place(logs, times, on: day)
    #expect(placed == everyHeader(logs, times, on: day))
    // The first was uploaded 10 minutes before midnight: the day before, by its name.
    #expect(placed.count == 9)
  }

  /// Not one session: splits with different session starts (copies moved together). Where the
  /// search reads one that disagrees, every candidate of the session is read. (A disagreeing
  /// split the search never reads is placed as its neighbours are: the placement relies on a
  /// session's splits sharing its start, as a device writes them.)
  @Test func aSessionWhoseHeadersDisagreeIsReadInFull() {
    var (logs, times) = session(start: day.start - 3 * 3600, count: 200, length: 600, delay: 30)
    // The first split uploaded within the slack of the day is always read.
    let first = logs.firstIndex { UInt64($0.name.epoch) * Self.second + DayPlacement.uploadSlack >= day.nanoseconds.lowerBound }!
    times[logs[first].ino] = LogTime(
      header: MF4Header(finalized: false, sessionStartNanoseconds: UInt64(day.start + 2 * 86_400) * Self.second))
    times[logs[first].ino]!.firstRecord = UInt64(day.start + 2 * 86_400) * Self.second
    let (placed, reads) = place(logs, times, on: day)
    #expect(placed == everyHeader(logs, times, on: day))
    #expect(!placed.contains(logs[first].ino))
    #expect(reads == logs.count - first, "every candidate read")
  }

  /// Random sessions and days: the placement is always exactly what every header says.
  @Test func randomSessionsMatchReadingEveryHeader() {
    var rng = SplitMix64(seed: 1_512)
    for _ in 0..<400 {
      let (logs, times, probe, count, start, length) = randomSession(&rng, maxCount: 300)
      let (placed, reads) = place(logs, times, on: probe)
      #expect(placed == everyHeader(logs, times, on: probe), "start \(start) count \(count) length \(length)")
      #expect(reads <= 2 * (Int.bitWidth - count.leadingZeroBitCount) + 3)
    }
  }
}

extension DayPlacementTests {
  /// Drives a search round by round as `.by-date/` does: each round's reads at once.
  func rounds(_ logs: [DayPlacement.Log], _ times: [UInt64: LogTime], on day: ByDateDay, fanOut: Int) -> (
    [UInt64], reads: Int, rounds: Int
  ) {
    var search = DayPlacement.Search(day: day.nanoseconds, session: logs, deviceClock: false, fanOut: fanOut)
    var reads = 0
    var rounds = 0
    while case let wanted = search.next(), !wanted.isEmpty {
      rounds += 1
      reads += wanted.count
      #expect(Set(wanted).count == wanted.count, "a header asked twice in one round")
      for i in wanted { search.take(times[search.candidates[i].ino]!, at: i) }
    }
    return ((search.result ?? []).map(\.ino), reads, rounds)
  }

  /// Far from the server: each round after the first (the two ends) reads up to 7 headers a
  /// bound, so a week-long session of 1,000 splits is placed in 5 rounds instead of 11, for a
  /// few more headers.
  @Test func farAwayTheSearchNeedsFewRoundsAndStaysExact() {
    let (logs, times) = session(start: day.start - 3 * 3600, count: 1000, length: 600, delay: 30)
    let near = rounds(logs, times, on: day, fanOut: 1)
    let far = rounds(logs, times, on: day, fanOut: DayPlacement.farFanOut)
    #expect(near.0 == everyHeader(logs, times, on: day) && far.0 == near.0)
    #expect(near.rounds >= 8 && far.rounds <= 5, "rounds: \(near.rounds) near, \(far.rounds) far")
    #expect(far.reads <= 9 + 4 * 14, "\(far.reads) headers read far away")
    print("1,000 splits: \(near.reads) headers in \(near.rounds) rounds near, \(far.reads) in \(far.rounds) rounds far")
    // A session of 50 splits (the benchmark's) takes 2 rounds far away.
    let (short, shortTimes) = session(start: day.start - 3 * 3600, count: 50, length: 600, delay: 30)
    #expect(rounds(short, shortTimes, on: day, fanOut: 7).rounds <= 3)
  }

  /// Random sessions, days and fan-outs: always exactly what every header says, in at most
  /// 2 + log_{k+1}(n) rounds, each header read once.
  @Test func everyFanOutMatchesReadingEveryHeader() {
    var rng = SplitMix64(seed: 2_023)
    for _ in 0..<600 {
      let fanOut = 1 + Int(rng.next() % 9)
      let (logs, times, probe, count, start, _) = randomSession(&rng, maxCount: 600)
      let (placed, reads, taken) = rounds(logs, times, on: probe, fanOut: fanOut)
      #expect(placed == everyHeader(logs, times, on: probe), "start \(start) count \(count) fan-out \(fanOut)")
      var limit = 2
      var span = 1
      while span < count {
        span *= fanOut + 1
        limit += 1
      }
      #expect(taken <= limit, "\(taken) rounds for \(count) splits at fan-out \(fanOut)")
      #expect(reads <= count)
    }
  }

  /// Times that do not grow with the split number (one session's name on copies of others),
  /// where the search reads them: it notices and reads every candidate, at any fan-out.
  @Test func timesOutOfOrderAreReadInFull() {
    for fanOut in [1, 7] {
      var (logs, times) = session(start: day.start - 3 * 3600, count: 120, length: 600, delay: 30)
      let first = logs.firstIndex {
        UInt64($0.name.epoch) * Self.second + DayPlacement.uploadSlack >= day.nanoseconds.lowerBound
      }!
      // The first and the last candidate (always read) swap their first records.
      let a = logs[first].ino
      let b = logs[logs.count - 1].ino
      (times[a]!.firstRecord, times[b]!.firstRecord) = (times[b]!.firstRecord, times[a]!.firstRecord)
      let (placed, reads, _) = rounds(logs, times, on: day, fanOut: fanOut)
      #expect(reads == logs.count - first, "fan-out \(fanOut): \(reads) read")
      #expect(placed == everyHeader(logs, times, on: day), "fan-out \(fanOut)")
      #expect(placed.contains(a) && !placed.contains(b), "the swapped splits placed by their own headers")
    }
  }
}

@Suite struct ByDateDayTests {
  @Test func namesParseOnlyAsRealDays() {
    #expect(ByDateDay("2026-12-01")?.start == 1_796_083_200)
    #expect(ByDateDay("1970-01-01")?.start == 0)
    #expect(ByDateDay("2024-02-29") != nil && ByDateDay("2023-02-29") == nil && ByDateDay("2100-02-29") == nil)
    for bad in ["2026-13-01", "2026-00-10", "2026-1-01", "2026-12-1", "20261201", "1969-12-31", "2026-12-01 ", "２０２６-12-01"] {
      #expect(ByDateDay(bad) == nil, "\(bad)")
    }
  }

  @Test func theDayContainingATimeRoundTrips() {
    var rng = SplitMix64(seed: 7)
    for _ in 0..<2000 {
      let t = Int64(rng.next() % 8_000_000_000)
      let day = ByDateDay(containing: t)
      #expect(day.start <= t && t < day.start + 86_400)
      #expect(ByDateDay(day.name) == day)
    }
  }
}
