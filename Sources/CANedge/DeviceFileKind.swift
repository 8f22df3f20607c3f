/// What a file in a device's root folder is, by its name.
public enum DeviceFileKind: Hashable, Sendable {
  /// `device.json`: the heartbeat the device writes.
  case heartbeat
  /// `schema-MM.mm.json`: the rule schema the device uploads for its firmware.
  case schema(ConfigVersion)
  /// `config-MM.mm.json`: the configuration the device reads (COTA).
  case config(ConfigVersion)
  /// `firmware.bin`: a pending firmware update (FOTA).
  case firmware
  /// `certs_server.p7b`: a pending server certificate bundle.
  case certificates
  /// Anything else: shown read-only as it is.
  case other

  public init(name: some StringProtocol) {
    let name = String(name)
    switch name {
    case "device.json": self = .heartbeat
    case "firmware.bin": self = .firmware
    case "certs_server.p7b": self = .certificates
    default:
      if let v = Self.version(in: name, prefix: "schema-") {
        self = .schema(v)
      } else if let v = Self.version(in: name, prefix: "config-") {
        self = .config(v)
      } else {
        self = .other
      }
    }
  }

  private static func version(in name: String, prefix: String) -> ConfigVersion? {
    guard name.hasPrefix(prefix), name.hasSuffix(".json") else { return nil }
    return ConfigVersion(name.dropFirst(prefix.count).dropLast(".json".count))
  }
}

/// A configuration/schema version `MM.mm` (major.minor), e.g. `01.09`.
public struct ConfigVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
  public let major: Int
  public let minor: Int

  public init(major: Int, minor: Int) {
    self.major = major
    self.minor = minor
  }

  /// Parses `MM.mm` (two digits each).
  public init?(_ text: some StringProtocol) {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 2, parts.allSatisfy({ $0.utf8.count == 2 && $0.utf8.allSatisfy(\.isDecimalDigit) }),
      let major = Int(parts[0]), let minor = Int(parts[1])
    else { return nil }
    self.init(major: major, minor: minor)
  }

  public var description: String {
    (major < 10 ? "0" : "") + String(major) + "." + (minor < 10 ? "0" : "") + String(minor)
  }

  public static func < (a: ConfigVersion, b: ConfigVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}
