/// The name of a log file as the device uploads it: `SPLIT-EPOCHHEX.EXT`, e.g.
/// `00000002-5E0BE1F3.MF4` (split 2, uploaded 2020-01-01 00:04:03 UTC, MDF4).
public struct LogFileName: Hashable, Sendable {
  public let split: UInt32
  /// Upload time, seconds since 1970 (UTC), from the 8 hex digits in the name.
  public let epoch: UInt32
  /// `MF4`, `MFC` (compressed), `MFE` (encrypted), `MFM` (both), or another extension.
  public let fileExtension: String

  public init?(_ name: some StringProtocol) {
    let bytes = Array(name.utf8)
    // 8 digits, '-', 8 hex, '.', 1–8 alphanumerics
    guard bytes.count >= 19, bytes.count <= 26, bytes[8] == UInt8(ascii: "-"), bytes[17] == UInt8(ascii: ".") else {
      return nil
    }
    let splitText = String(decoding: bytes[0..<8], as: UTF8.self)
    let epochBytes = bytes[9..<17]
    let ext = bytes[18...]
    guard let split = EightDigits.parse(splitText), epochBytes.allSatisfy(\.isHexDigit),
      let epoch = UInt32(String(decoding: epochBytes, as: UTF8.self), radix: 16),
      ext.allSatisfy({ $0.isDecimalDigit || (65...90).contains($0) || (97...122).contains($0) })
    else { return nil }
    self.split = split
    self.epoch = epoch
    self.fileExtension = String(decoding: ext, as: UTF8.self)
  }
}
