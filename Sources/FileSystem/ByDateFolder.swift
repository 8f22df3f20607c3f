/// The folders of `.by-date/YYYY-MM-DD/DEVICE/SESSION/`: the same log files as the device tree,
/// placed by the day of their first record.
public enum ByDateFolder: Sendable, Equatable {
  /// `.by-date/` itself.
  case root
  /// `YYYY-MM-DD/`, with the day's bounds in nanoseconds since 1970 on the placement clock
  /// (UTC, or the device's local time with `--by-date-tz device`).
  case day(ByDateDay)
  /// `DEVICE/` and `DEVICE/SESSION/` of a day.
  case device
  case session
}

/// What a `.by-date/` session folder holds: the device tree's session, and its logs that are
/// on the day (in name order, and as a set for lookups).
struct ByDateSessionFiles: Sendable {
  let session: UInt64
  let logs: [UInt64]
  let members: Set<UInt64>

  init(session: UInt64, logs: [UInt64]) {
    self.session = session
    self.logs = logs
    members = Set(logs)
  }
}

/// One day of `.by-date/`, from its folder name.
public struct ByDateDay: Sendable, Equatable, Hashable {
  public let name: String
  /// Midnight at its start, seconds since 1970.
  public let start: Int64

  /// Parses `YYYY-MM-DD` (a real calendar day from 1970 to 9999).
  public init?(_ name: String) {
    let parts = name.split(separator: "-", omittingEmptySubsequences: false)
    guard name.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
      parts.allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) } }),
      let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), y >= 1970, (1...12).contains(m),
      (1...Self.daysIn(month: m, year: y)).contains(d)
    else { return nil }
    self.name = name
    self.start = Self.daysFromCivil(y, m, d) * 86_400
  }

  /// The day holding `seconds` since 1970.
  public init(containing seconds: Int64) {
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let (y, m, d) = Self.civil(fromDays: days)
    name = String(y).leftPadded(4) + "-" + String(m).leftPadded(2) + "-" + String(d).leftPadded(2)
    start = days * 86_400
  }

  public var nanoseconds: Range<UInt64> {
    UInt64(max(start, 0)) * 1_000_000_000..<UInt64(max(start + 86_400, 0)) * 1_000_000_000
  }

  static func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
  static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = Int64(month > 2 ? month - 3 : month + 9)
    let doy = (153 * mp + 2) / 5 + Int64(day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  static func civil(fromDays days: Int64) -> (Int, Int, Int) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), Int(m), Int(d))
  }
}

extension String {
  fileprivate func leftPadded(_ width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
