import Foundation

/// The two date formats S3 uses, parsed without a locale-dependent formatter.
public enum HTTPDate {
  /// `2026-11-29T20:44:35Z` or `2026-11-29T20:44:35.123Z` → seconds since 1970.
  public static func parseISO8601(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T")
    else { return nil }
    func num(_ from: Int, _ len: Int) -> Int? {
      var v = 0
      for i in from..<from + len {
        guard b[i] >= 48, b[i] <= 57 else { return nil }
        v = v * 10 + Int(b[i] - 48)
      }
      return v
    }
    guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2),
      let mi = num(14, 2), let se = num(17, 2)
    else { return nil }
    return epoch(year: y, month: mo, day: d, hour: h, minute: mi, second: se)
  }

  /// `Sun, 29 Nov 2026 20:44:35 GMT` → seconds since 1970.
  public static func parseRFC1123(_ s: String) -> Int64? {
    let parts = s.split(separator: " ")
    guard parts.count >= 5 else { return nil }
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    guard let d = Int(parts[1]), let mo = months.firstIndex(of: String(parts[2])), let y = Int(parts[3]) else {
      return nil
    }
    let t = parts[4].split(separator: ":").compactMap { Int($0) }
    guard t.count == 3 else { return nil }
    return epoch(year: y, month: mo + 1, day: d, hour: t[0], minute: t[1], second: t[2])
  }

  /// Days-from-civil (proleptic Gregorian), valid for any year.
  static func epoch(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
    guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    return Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second)
  }
}
