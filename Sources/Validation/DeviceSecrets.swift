/// The device's own secrets in a CANedge config: the S3 secret key it uploads with, Wi-Fi
/// access point passwords, the log encryption password, the web server password, and on
/// cellular models the SIM PIN and APN password.
///
/// The device keeps each of them in plain text unless the object that holds it says
/// `keyformat: 1` (encrypted with the device's public key; for the web server password,
/// `security: 2`). The fields are found by name, as every CANedge schema names them
/// (`secretkey`, `pwd`, `password`, `pin`, `puk`), so the rule holds for models and firmware
/// versions whose schema is not at hand.
public enum DeviceSecrets {
  /// Member names that hold a secret.
  static let secretNames: Set<String> = ["secretkey", "pwd", "password", "pin", "puk", "passphrase", "psk"]

  /// Whether a JSON path (`$.connect.wifi.accesspoint[0].pwd`) ends in a secret field: its value
  /// is never quoted in a message.
  public static func isSecretPath(_ path: String) -> Bool {
    guard let last = path.split(whereSeparator: { $0 == "." || $0 == "[" }).last else { return false }
    let name = last.hasSuffix("]") ? last.dropLast().trimmingCharacters(in: ["\""]) : String(last)
    return secretNames.contains(name.lowercased())
  }

  /// The JSON paths of the non-empty secrets the config holds in plain text, in document order
  /// of their paths (sorted). Never their values.
  public static func plainTextPaths(in config: JSONValue) -> [String] {
    var found: [String] = []
    walk(config, path: "$", encrypted: false, into: &found)
    return found.sorted()
  }

  private static func walk(_ value: JSONValue, path: String, encrypted: Bool, into found: inout [String]) {
    switch value {
    case .object(let members):
      // The nearest object that says how its secrets are stored decides for everything in it.
      var encrypted = encrypted
      if let format = members["keyformat"]?.number { encrypted = format == 1 }
      if let security = members["security"]?.number, members["password"] != nil { encrypted = security == 2 }
      for (name, member) in members {
        let memberPath = JSONSchemaValidator.join(path, name)
        if secretNames.contains(name.lowercased()) {
          if case .string(let s) = member, !s.isEmpty, !encrypted { found.append(memberPath) }
        } else {
          walk(member, path: memberPath, encrypted: encrypted, into: &found)
        }
      }
    case .array(let items):
      for (i, item) in items.enumerated() { walk(item, path: "\(path)[\(i)]", encrypted: encrypted, into: &found) }
    default:
      break
    }
  }

  /// The one line `.edgemount/errors` and `edgemount validate` give for such a config: the
  /// paths, never the values, and what to do.
  public static func warning(paths: [String]) -> String {
    let noun = paths.count == 1 ? "secret" : "secrets"
    return
      "\(paths.count) plain-text \(noun) (\(paths.joined(separator: ", "))): whoever can read this file can use "
      + "\(paths.count == 1 ? "it" : "them"); the device can hold them encrypted: set keyformat 1 and encrypt "
      + "each with the device's public key (kpub in device.json), see docs/cota.md"
  }
}
