import Foundation

/// UTC timestamps as `2026-11-29T20:44:35Z`.
enum ISOTime {
  static func string(_ epoch: Int64) -> String {
    var t = time_t(epoch)
    var parts = tm()
    gmtime_r(&t, &parts)
    return String(
      format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
  }

  /// `2026-11-29T20:44:35.123Z`, from nanoseconds since 1970 (truncated to the millisecond).
  static func milliseconds(_ nanoseconds: UInt64) -> String {
    let seconds = String(string(Int64(nanoseconds / 1_000_000_000)).dropLast())
    let millis = Int(nanoseconds / 1_000_000 % 1000)
    return seconds + "." + String(format: "%03d", millis) + "Z"
  }
}
