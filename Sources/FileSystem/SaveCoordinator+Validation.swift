import CANedge
import Foundation
import Locking
import S3
import Validation

/// What a server file must be before it is uploaded: the device's schema and rules for a
/// config, the firmware checks, a certificate bundle that parses.
extension SaveCoordinator {
  /// Checks a server file's new content; for a config, returns the paths of the device secrets
  /// it holds in plain text.
  func validate(_ name: String, bytes: [UInt8], device: Node) throws(FSError) -> [String]? {
    switch DeviceFileKind(name: name) {
    case .config(let version): return try validateConfig(name, bytes: bytes, version: version, device: device)
    case .firmware: try validateFirmware(bytes, device: device)
    case .certificates:
      do { _ = try CertificateBundle(bytes) } catch { throw .invalid(error.description) }
    default: throw .accessDenied("\(name) cannot be uploaded")
    }
    return nil
  }

  private func validateFirmware(_ bytes: [UInt8], device: Node) throws(FSError) {
    let page: ListPage
    do { page = try s3.listAll(prefix: device.key, delimiter: "/") } catch { throw .s3(error) }
    var configs: [ConfigVersion: [UInt8]] = [:]
    for object in page.objects {
      if case .config(let v) = DeviceFileKind(name: String(object.key.dropFirst(device.key.count))) {
        do { configs[v] = try s3.getObject(key: object.key, ifMatch: object.etag) } catch { throw .s3(error) }
      }
    }
    facts.forgetHeartbeat(deviceKey: device.key)
    let (json, _) = facts.heartbeat(deviceKey: device.key)
    let context = FirmwareValidator.Device(
      typeCode: json?["type"]?.string, firmwareVersion: json?["fw_ver"]?.string, configs: configs,
      facts: .init(publicKey: json?["kpub"]?.string))
    do {
      let image = try FirmwareValidator().validate(bytes, device: context)
      logger.info("\(device.key)firmware.bin: \(image.model.rawValue) firmware \(image.version) accepted")
    } catch {
      throw .invalid(error.description)
    }
  }

  private func validateConfig(_ name: String, bytes: [UInt8], version: ConfigVersion, device: Node) throws(FSError)
    -> [String]
  {
    let context = try deviceContext(device, version: version)
    do {
      let accepted = try ConfigValidator().validate(bytes, version: version, device: context)
      if let warning = accepted.warning {
        logger.warning("\(device.key)\(name): \(warning)")
        errors.append("\(device.key)\(name): warning: \(warning)")
      }
      return accepted.plainTextSecrets
    } catch {
      throw .invalid(error.description)
    }
  }

  /// What the device says about itself: its schema files and heartbeat, fresh from the server.
  private func deviceContext(_ device: Node, version: ConfigVersion) throws(FSError) -> ConfigValidator.Device {
    let page: ListPage
    do { page = try s3.listAll(prefix: device.key, delimiter: "/") } catch { throw .s3(error) }
    var known = Set<ConfigVersion>()
    var schemaObject: ListedObject?
    var hasHeartbeat = false
    for object in page.objects {
      let name = String(object.key.dropFirst(device.key.count))
      switch DeviceFileKind(name: name) {
      case .schema(let v):
        known.insert(v)
        if v == version { schemaObject = object }
      case .heartbeat: hasHeartbeat = true
      default: break
      }
    }
    var facts = ConfigRules.DeviceFacts()
    // The schema is read beside the heartbeat: one round trip for both.
    let deviceFacts = self.facts
    let schemaRead = schemaObject.map { object in
      Alongside { () -> Result<JSONValue?, FSError> in
        do throws(FSError) { return .success(try deviceFacts.ruleSchema(object)) } catch { return .failure(error) }
      }
    }
    if hasHeartbeat {
      self.facts.forgetHeartbeat(deviceKey: device.key)
      if let json = self.facts.heartbeat(deviceKey: device.key).0 {
        facts.publicKey = json["kpub"]?.string
        for field in ["cfg_name", "sch_name"] {
          if let n = json[field]?.string,
            case .config(let v) = DeviceFileKind(name: n.replacingOccurrences(of: "schema-", with: "config-"))
          {
            known.insert(v)
          }
        }
      }
    }
    var schema: JSONValue?
    if schemaObject == nil, let staged = stagedFirmwareSchema(in: device, version: version) {
      // A firmware image staged beside the config (firmware-MM.mm.pp.bin): its own schema is
      // the one the device will have for this version.
      known.insert(version)
      schema = staged
    }
    if let schemaRead { schema = try schemaRead.value.get() }
    return ConfigValidator.Device(knownVersions: known, schema: schema, facts: facts)
  }

  /// The rule schema inside a firmware image staged locally in the device folder as
  /// `firmware-MM.mm.pp.bin` for `version`, if there is one.
  private func stagedFirmwareSchema(in device: Node, version: ConfigVersion) -> JSONValue? {
    let candidates = tree.presentChildren(of: device.ino).filter {
      $0.kind == .object(.scratch) && DeviceFileKind.stagedFirmwareVersion($0.name) == version
    }
    let staged = candidates.compactMap { scratch($0.ino) }
    for file in staged {
      let bytes = file.bytes
      guard let image = try? FirmwareImage(bytes), image.configVersion == version, let range = image.schemaRange,
        let schema = try? JSONDocument.parse(Array(bytes[range]))
      else { continue }
      return schema
    }
    return nil
  }
}
