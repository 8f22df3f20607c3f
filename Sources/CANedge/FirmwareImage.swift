/// The header of a CANedge `firmware.bin`: a magic per device model, the version, and where
/// the embedded rule schema and default config are.
public struct FirmwareImage: Sendable, Equatable {
  public let model: DeviceModel
  public let major: Int
  public let minor: Int
  public let patch: Int
  public let schemaRange: Range<Int>?
  public let configRange: Range<Int>?

  public static let headerSize = 40

  public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
    case tooShort(Int)
    case unknownMagic(String)
    case badSection(String)

    public var description: String {
      switch self {
      case .tooShort(let n):
        return "\(n) bytes is too short for a firmware image (the header alone is \(FirmwareImage.headerSize))"
      case .unknownMagic(let m): return "magic \(m) is not a CANedge firmware image"
      case .badSection(let what): return "the header's \(what) section lies outside the file"
      }
    }
  }

  public init(_ bytes: [UInt8]) throws(Problem) {
    guard bytes.count >= Self.headerSize else { throw .tooShort(bytes.count) }
    let magic = Self.uint32(bytes, 0)
    guard let model = DeviceModel.allCases.first(where: { $0.firmwareMagic == magic }) else {
      throw .unknownMagic(Self.hex(magic))
    }
    self.model = model
    major = Int(bytes[4])
    minor = Int(bytes[5])
    patch = Int(bytes[6])
    schemaRange = try Self.section(bytes, at: 24, name: "schema")
    configRange = try Self.section(bytes, at: 32, name: "config")
  }

  /// `MM.mm.pp`, as device.json's `fw_ver`.
  public var version: String { [major, minor, patch].map { $0 < 10 ? "0\($0)" : "\($0)" }.joined(separator: ".") }
  public var configVersion: ConfigVersion { ConfigVersion(major: major, minor: minor) }

  private static func section(_ bytes: [UInt8], at position: Int, name: String) throws(Problem) -> Range<Int>? {
    let offset = Int(uint32(bytes, position))
    let length = Int(uint32(bytes, position + 4))
    if offset == 0 && length == 0 { return nil }
    guard offset >= headerSize, length > 0, offset <= bytes.count, length <= bytes.count - offset else { throw .badSection(name) }
    return offset..<offset + length
  }

  static func uint32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
  }

  static func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: 8 - s.count) + s
  }

  /// A header for tests and the simulator: magic, version, and the two sections appended.
  public static func build(
    model: DeviceModel, major: Int, minor: Int, patch: Int, schema: [UInt8] = [], config: [UInt8] = [], body: Int = 1024
  )
    -> [UInt8]
  {
    var out = [UInt8](repeating: 0, count: headerSize)
    func put(_ v: UInt32, _ i: Int) {
      out[i] = UInt8(v >> 24); out[i + 1] = UInt8(v >> 16 & 0xFF); out[i + 2] = UInt8(v >> 8 & 0xFF); out[i + 3] = UInt8(v & 0xFF)
    }
    put(model.firmwareMagic, 0)
    out[4] = UInt8(major)
    out[5] = UInt8(minor)
    out[6] = UInt8(patch)
    out += (0..<body).map { UInt8(truncatingIfNeeded: $0 &* 131) }
    if !schema.isEmpty {
      put(UInt32(out.count), 24)
      put(UInt32(schema.count), 28)
      out += schema
    }
    if !config.isEmpty {
      put(UInt32(out.count), 32)
      put(UInt32(config.count), 36)
      out += config
    }
    return out
  }
}

/// CANedge models: the type code in device.json and the magic of their firmware images.
public enum DeviceModel: String, CaseIterable, Sendable {
  case canedge1 = "CANedge1"
  case canedge1GNSS = "CANedge1 GNSS"
  case canedge2 = "CANedge2"
  case canedge2GNSS = "CANedge2 GNSS"
  case canedge3 = "CANedge3"
  case canedge3GNSS = "CANedge3 GNSS"

  public init?(typeCode: String) {
    guard let m = Self.allCases.first(where: { $0.typeCode == typeCode.uppercased() }) else { return nil }
    self = m
  }

  /// device.json's `type`.
  public var typeCode: String {
    switch self {
    case .canedge1: "0000001D"
    case .canedge1GNSS: "0000005D"
    case .canedge2: "0000001F"
    case .canedge2GNSS: "0000005F"
    case .canedge3: "0000003D"
    case .canedge3GNSS: "0000007D"
    }
  }

  public var firmwareMagic: UInt32 {
    switch self {
    case .canedge1: 0xDEAD_10CC
    case .canedge1GNSS: 0x0F49_47CF
    case .canedge2: 0xBAAD_A555
    case .canedge2GNSS: 0x7FD4_3111
    case .canedge3: 0xE670_C727
    case .canedge3GNSS: 0xB74D_1858
    }
  }
}
