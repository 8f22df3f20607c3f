/// What the first bytes of a CANedge MF4 log say about when it was recorded: the ID and HD
/// blocks, the HD comment, and the time of the first record (ASAM MDF 4.11).
public struct MF4Header: Sendable, Equatable {
  /// `MDF     ` (true) or `UnFinMF ` (false: CANedge writes unfinalized files).
  public var finalized: Bool
  /// `hd_start_time_ns`: the session's start, nanoseconds since 1970 UTC. Every split of one
  /// session has the same value.
  public var sessionStartNanoseconds: UInt64
  /// `hd_tz_offset_min` and `hd_dst_offset_min`: the device's local offset from UTC.
  public var timeZoneOffsetMinutes: Int16
  public var daylightSavingOffsetMinutes: Int16
  /// `hd_time_flags`: bit 0 local time, bit 1 the offsets are valid.
  public var timeFlags: UInt8
  /// The first record's timestamp relative to the session start, when the block chain leads to
  /// one (nil: no record yet, or a data layout this reader does not follow).
  public var firstRecordOffsetNanoseconds: UInt64?
  /// The HD comment's `<e name="...">value</e>` fields (serial number, firmware version, ...),
  /// values trimmed.
  public var comment: [String: String]

  public init(
    finalized: Bool, sessionStartNanoseconds: UInt64, timeZoneOffsetMinutes: Int16 = 0,
    daylightSavingOffsetMinutes: Int16 = 0, timeFlags: UInt8 = 0, firstRecordOffsetNanoseconds: UInt64? = nil,
    comment: [String: String] = [:]
  ) {
    self.finalized = finalized
    self.sessionStartNanoseconds = sessionStartNanoseconds
    self.timeZoneOffsetMinutes = timeZoneOffsetMinutes
    self.daylightSavingOffsetMinutes = daylightSavingOffsetMinutes
    self.timeFlags = timeFlags
    self.firstRecordOffsetNanoseconds = firstRecordOffsetNanoseconds
    self.comment = comment
  }

  /// The split's own recording start: the session start plus its first record's timestamp.
  public var firstRecordNanoseconds: UInt64? {
    firstRecordOffsetNanoseconds.map { sessionStartNanoseconds &+ $0 }
  }

  /// The device's offset from UTC in minutes, when the header says the offsets are valid.
  public var deviceOffsetMinutes: Int {
    timeFlags & 0b10 != 0 ? Int(timeZoneOffsetMinutes) + Int(daylightSavingOffsetMinutes) : 0
  }
}

/// Why a log's header could not be read. A hostile or damaged file gives one of these, never
/// a crash or an unbounded read.
public enum MF4HeaderError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file does not start with an MDF ID block (`Generic ` for compressed or encrypted
  /// CANedge files), with the 8 bytes found.
  case notMF4(String)
  /// The file ends before a block the header needs.
  case truncated(at: UInt64)
  /// A link points at something that is not the block it should be.
  case badBlock(at: UInt64, expected: String)
  /// More reads, blocks or bytes than a real header needs.
  case tooLarge(String)

  public var description: String {
    switch self {
    case .notMF4(let id): return "not an MDF 4 file (starts with '\(id)')"
    case .truncated(let at): return "the file ends before offset \(at)"
    case .badBlock(let at, let expected): return "no \(expected) block at offset \(at)"
    case .tooLarge(let why): return "header too large: \(why)"
    }
  }
}
