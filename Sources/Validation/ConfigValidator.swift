import CANedge

/// Decides whether a `config-MM.mm.json` save may go to the device: well-formed JSON, a
/// version the device knows, valid against the device's schema for that version, and the
/// device's cross-field rules.
public struct ConfigValidator: Sendable {
  /// What is known about the device the config is for.
  public struct Device: Sendable {
    /// Versions the device knows: its schema files and device.json's `cfg_name`/`sch_name`.
    public var knownVersions: Set<ConfigVersion>
    /// The schema for the config's version, if the device has uploaded one.
    public var schema: JSONValue?
    public var facts: ConfigRules.DeviceFacts

    public init(knownVersions: Set<ConfigVersion>, schema: JSONValue?, facts: ConfigRules.DeviceFacts = .init()) {
      self.knownVersions = knownVersions
      self.schema = schema
      self.facts = facts
    }
  }

  /// Why a save was refused; `description` is the sentence for the log and `.edgemount/errors`.
  public enum Rejection: Error, Equatable, Sendable, CustomStringConvertible {
    case syntax(JSONDocument.SyntaxError)
    case unknownVersion(ConfigVersion, known: [ConfigVersion])
    case violations([SchemaViolation])

    public var description: String {
      switch self {
      case .syntax(let e): return e.description
      case .unknownVersion(let v, let known):
        let list = known.isEmpty ? "none" : known.map(\.description).joined(separator: ", ")
        return
          "version \(v) is not one this device knows (known: \(list)); to change to firmware \(v), first copy that firmware image into the device folder as firmware-\(v).pp.bin (pp: its patch number): the config is then checked against the schema inside it"
      case .violations(let list):
        let shown = list.prefix(5).map(\.description).joined(separator: "; ")
        return list.count > 5 ? "\(shown); and \(list.count - 5) more" : shown
      }
    }
  }

  /// The outcome of an accepted save: any warning to log (no schema to check against), and
  /// the paths of the device secrets it holds in plain text (`DeviceSecrets`).
  public struct Acceptance: Equatable, Sendable {
    public var warning: String?
    public var plainTextSecrets: [String] = []
  }

  public init() {}

  public func validate(_ bytes: [UInt8], version: ConfigVersion, device: Device) throws(Rejection) -> Acceptance {
    let document: JSONValue
    do { document = try JSONDocument.parse(bytes) } catch { throw .syntax(error) }
    var warning: String?
    if !device.knownVersions.isEmpty, !device.knownVersions.contains(version) {
      // A newer version is step 1 of a firmware upgrade: the device has no schema for it yet.
      guard let newest = device.knownVersions.max(), version > newest else {
        throw .unknownVersion(version, known: device.knownVersions.sorted())
      }
      warning =
        "version \(version) is newer than the device's (\(newest)): accepted after the JSON check; the firmware.bin upload checks it against the firmware's schema"
    }
    var violations: [SchemaViolation] = []
    if let schema = device.schema {
      violations = JSONSchemaValidator(schema: schema).validate(document)
    } else if warning == nil {
      warning = "no schema-\(version).json on the server for this device: accepted after the JSON check only"
    }
    if violations.isEmpty { violations = ConfigRules.check(document, device: device.facts) }
    guard violations.isEmpty else { throw .violations(violations) }
    return Acceptance(warning: warning, plainTextSecrets: DeviceSecrets.plainTextPaths(in: document))
  }
}
