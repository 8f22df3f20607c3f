/// A CANedge device ID: 8 hexadecimal digits (upper case on real devices), the name of the
/// device's top-level prefix in the bucket.
public struct DeviceID: Hashable, Sendable, Comparable, CustomStringConvertible {
  public let rawValue: String

  public init?(_ text: some StringProtocol) {
    guard text.utf8.count == 8, text.utf8.allSatisfy(\.isHexDigit) else { return nil }
    rawValue = String(text)
  }

  public var description: String { rawValue }
  public static func < (a: DeviceID, b: DeviceID) -> Bool { a.rawValue < b.rawValue }
}

extension UInt8 {
  var isHexDigit: Bool {
    (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self)
  }
  var isDecimalDigit: Bool { (48...57).contains(self) }
  var hexValue: UInt8? {
    switch self {
    case 48...57: return self - 48
    case 65...70: return self - 55
    case 97...102: return self - 87
    default: return nil
    }
  }
}

/// An 8-digit decimal name, as sessions and splits have.
enum EightDigits {
  static func parse(_ text: some StringProtocol) -> UInt32? {
    guard text.utf8.count == 8, text.utf8.allSatisfy(\.isDecimalDigit) else { return nil }
    return UInt32(text)
  }
}
