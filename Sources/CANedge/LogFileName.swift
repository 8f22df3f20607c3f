/// The name of a log file as the device uploads it: `SPLIT-EPOCHHEX.EXT`, e.g.
/// `00000002-5E0BE1F3.MF4` (split 2, uploaded 2020-01-01 00:04:03 UTC, MDF4).
public struct LogFileName: Hashable, Sendable {
  public let split: UInt32
  /// Upload time, seconds since 1970 (UTC), from the 8 hex digits in the name.
  public let epoch: UInt32
  /// `MF4`, `MFC` (compressed), `MFE` (encrypted), `MFM` (both), or another extension.
  public let fileExtension: String

  public init?(_ name: some StringProtocol) {
    var text = String(name)
    guard let parsed = text.withUTF8({ Self.parse($0) }) else { return nil }
    (split, epoch, fileExtension) = parsed
  }

  /// 8 digits, '-', 8 hex digits, '.', 1–8 ASCII letters or digits.
  private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt32, UInt32, String)? {
    guard bytes.count >= 19, bytes.count <= 26, bytes[8] == UInt8(ascii: "-"), bytes[17] == UInt8(ascii: ".") else {
      return nil
    }
    var split: UInt32 = 0
    for i in 0..<8 {
      guard bytes[i].isDecimalDigit else { return nil }
      split = split * 10 + UInt32(bytes[i] - UInt8(ascii: "0"))
    }
    var epoch: UInt32 = 0
    for i in 9..<17 {
      guard let nibble = bytes[i].hexValue else { return nil }
      epoch = epoch << 4 | UInt32(nibble)
    }
    let ext = UnsafeBufferPointer(rebasing: bytes[18...])
    guard ext.allSatisfy({ $0.isDecimalDigit || (65...90).contains($0) || (97...122).contains($0) }) else { return nil }
    return (split, epoch, String(decoding: ext, as: UTF8.self))
  }

}
