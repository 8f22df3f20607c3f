import CZlib

/// The standard CRC-32 (zlib's), as device.json's `cfg_crc32` uses it.
public enum CRC32 {
  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { buf in
      UInt32(crc32(0, buf.baseAddress, uInt(buf.count)))
    }
  }

  /// 8 upper-case hex digits, as in device.json.
  public static func hex(_ bytes: [UInt8]) -> String {
    let s = String(checksum(bytes), radix: 16, uppercase: true)
    return String(repeating: "0", count: 8 - s.count) + s
  }
}
