import CANedge

/// What the mount knows of when a log was recorded, from its MF4 header or, when that cannot
/// be read, from its upload name.
public struct LogTime: Sendable, Equatable {
  /// Where the placement time comes from (`user.canedge.time_source`).
  public enum Source: String, Sendable {
    /// The first record's time: the header's session start plus the record's timestamp.
    case header
    /// The header's session start (no record could be reached).
    case sessionStart = "session-start"
    /// The upload time in the file's name: the header could not be read (MFC, MFE, MFM,
    /// damaged files).
    case uploadName = "upload-name"
  }

  public var source: Source
  /// Nanoseconds since 1970 UTC.
  public var sessionStart: UInt64?
  public var firstRecord: UInt64?
  /// The device's offset from UTC (time zone plus DST), when its header gives valid offsets.
  public var offsetMinutes: Int
  /// The HD comment's fields.
  public var comment: [String: String]
  /// Why the header could not be read, for `upload-name`.
  public var failure: String?

  public init(header: MF4Header) {
    self.init(
      sessionStart: header.sessionStartNanoseconds, firstRecord: header.firstRecordNanoseconds,
      offsetMinutes: header.deviceOffsetMinutes, comment: header.comment)
  }

  /// A time read from a header: `header` with a first record, `session-start` without.
  public init(sessionStart: UInt64, firstRecord: UInt64?, offsetMinutes: Int = 0, comment: [String: String] = [:]) {
    self.sessionStart = sessionStart
    self.firstRecord = firstRecord
    source = firstRecord == nil ? .sessionStart : .header
    self.offsetMinutes = offsetMinutes
    self.comment = comment
  }

  public init(unreadable reason: String) {
    source = .uploadName
    offsetMinutes = 0
    comment = [:]
    failure = reason
  }

  /// The time a log is placed at, nanoseconds since 1970, on the UTC clock or the device's.
  public func placement(uploadEpoch: Int64, deviceClock: Bool) -> UInt64 {
    let utc = firstRecord ?? sessionStart ?? UInt64(max(uploadEpoch, 0)) * 1_000_000_000
    guard deviceClock, source != .uploadName else { return utc }
    let shifted = Int64(clamping: utc) + Int64(offsetMinutes) * 60_000_000_000
    return UInt64(max(shifted, 0))
  }
}
