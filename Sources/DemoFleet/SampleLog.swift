import Foundation

/// Copies of a real CANedge MF4 log with the recording time rewritten: the HD block's session
/// start and time zone offset, and the timestamp of the first record, a 48-bit microsecond count
/// right after the data block's header and its record ID byte. A device writes exactly these
/// fields, so a copy stands for a split recorded at that time. `sample` is a CANedge MF4 file
/// whose first data group's first record has that layout (the `bucket-sample` logs do).
public enum SampleLog {
  /// The sample the tests and the demo use, below the fixtures folder.
  public static let fixture = "bucket-sample/2F6913DB/00001089/00000001-63BEF5CD.MF4"

  /// `sessionStart` in seconds since 1970; the first record `offset` seconds after it.
  public static func rewrite(_ sample: [UInt8], sessionStart: Int64, offset: Double, timeZoneMinutes: Int16 = 0)
    -> [UInt8]
  {
    var bytes = sample
    put(UInt64(sessionStart) * 1_000_000_000, width: 8, at: 136, in: &bytes)
    put(UInt64(UInt16(bitPattern: timeZoneMinutes)), width: 2, at: 144, in: &bytes)
    let dataGroup = Int(read(at: 64 + 24, in: bytes))
    let data = Int(read(at: dataGroup + 24 + 16, in: bytes))
    put(UInt64((offset * 1_000_000).rounded()), width: 6, at: data + 24 + 1, in: &bytes)
    return bytes
  }

  /// The split's file name from its number and upload time (seconds since 1970).
  public static func name(split: Int, uploaded: Int64, ext: String = "MF4") -> String {
    String(format: "%08d-%08X.%@", split, UInt32(truncatingIfNeeded: uploaded), ext)
  }

  private static func put(_ value: UInt64, width: Int, at offset: Int, in bytes: inout [UInt8]) {
    for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
  }

  private static func read(at offset: Int, in bytes: [UInt8]) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
  }
}
