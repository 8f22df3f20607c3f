import CANedge
import Digest
import Foundation
import S3
import Validation

extension FleetFileSystem {
  /// Validates a server file's new content and uploads it in one conditional PUT. Nothing
  /// reaches the server unless the whole file is valid and the server still holds `base`.
  /// Every refusal is logged and appended to `.edgemount/errors`.
  @discardableResult
  func commit(_ node: Node, bytes: [UInt8], base: PutCondition) throws(FSError) -> String {
    let device = try self.node(node.parent)
    guard case .device(let id) = device.kind else { throw .accessDenied("not in a device folder") }
    let where_ = "\(id)/\(node.name)"
    let plainTextSecrets: [String]?
    do {
      plainTextSecrets = try validate(node.name, bytes: bytes, device: device)
    } catch {
      reportRejection(where_, error)
      throw error
    }
    let etag: String
    do {
      etag = try upload(key: node.key, bytes: bytes, base: base)
    } catch {
      reportRejection(where_, error)
      throw error
    }
    logger.info("saved \(node.key) (\(bytes.count) bytes, ETag \(etag))")
    if let plainTextSecrets { noteConfig(key: node.key, etag: etag, bytes: bytes, plainTextSecrets: plainTextSecrets) }
    state.withLock { s in
      s.table[node.ino]?.etag = etag
      s.table[node.ino]?.servedETag = etag
      s.table[node.ino]?.size = UInt64(bytes.count)
      s.table[node.ino]?.mtime = Int64(Date().timeIntervalSince1970)
      s.table[node.ino]?.present = true
      s.table[node.ino]?.onServer = true
    }
    invalidations.fire(.inode(node.ino))
    return etag
  }

  func reportRejection(_ file: String, _ error: FSError) {
    let line: String
    switch error {
    case .invalid(let why): line = "\(file): rejected: \(why)"
    case .conflict(let why): line = "\(file): refused (conflict): \(why)"
    default: line = "\(file): not saved: \(error)"
    }
    errors.append(line)
    logger.error("\(line)")
  }

  /// One conditional PUT. A 412 after a retried PUT may be our own earlier attempt having
  /// landed: a HEAD tells (same MD5), so a lost response is not reported as a conflict.
  private func upload(key: String, bytes: [UInt8], base: PutCondition) throws(FSError) -> String {
    // Every save first checks with a HEAD that the server still holds the version it replaces:
    // some servers (rclone serve s3) ignore If-Match and If-None-Match on PUT, and there the
    // check is what keeps someone else's edit; where the server honours the condition, the
    // conditional PUT also closes the moment between the HEAD and the PUT.
    var currentETag: String?
    do {
      currentETag = try s3.headObject(key: key).etag
    } catch {
      if !error.isNotFound { throw .s3(error) }
    }
    if let refusal = Self.staleBase(base, currentETag: currentETag) { throw .conflict(refusal) }
    // The same bytes as the version being replaced (vim writing its backup back, a second
    // `cp` of the same file): no upload, so the device does not see a new object and reboot
    // for nothing.
    if case .ifMatch(let etag) = base, Self.plainMD5(etag) == Digest.hex(Digest.md5(bytes)) {
      logger.info("\(key): unchanged content, not uploaded again")
      return etag
    }
    do {
      return try s3.putObject(key: key, body: bytes, contentType: Self.contentType(key), condition: base)
    } catch {
      if error.isPreconditionFailed {
        let md5 = Digest.hex(Digest.md5(bytes))
        if let head = try? s3.headObject(key: key), Self.plainMD5(head.etag) == md5 { return head.etag }
        let what: String
        switch base {
        case .ifNoneMatch: what = "the file was created on the server meanwhile"
        default: what = "the file changed on the server since it was read; reopen it and redo the edit"
        }
        throw .conflict(what)
      }
      throw .s3(error)
    }
  }

  /// Why a save on `base` must not go ahead when the server holds `currentETag` (nil: no object).
  static func staleBase(_ base: PutCondition, currentETag: String?) -> String? {
    switch base {
    case .ifMatch(let etag):
      guard let currentETag else { return "the file was deleted on the server since it was read" }
      if (plainMD5(currentETag) ?? currentETag) != (plainMD5(etag) ?? etag) {
        return "the file changed on the server since it was read; reopen it and redo the edit"
      }
      return nil
    case .ifNoneMatch:
      return currentETag == nil ? nil : "the file was created on the server meanwhile"
    case .none:
      return nil
    }
  }

  /// The MD5 an ETag names, when it is a plain one (not a multipart ETag).
  static func plainMD5(_ etag: String) -> String? {
    let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
    return bare.count == 32 && bare.allSatisfy(\.isHexDigit) ? bare : nil
  }

  static func contentType(_ key: String) -> String {
    if key.hasSuffix(".json") { return "application/json" }
    if key.hasSuffix(".p7b") { return "application/x-pkcs7-certificates" }
    return "application/octet-stream"
  }

  /// Checks a server file's new content; for a config, returns the paths of the device secrets
  /// it holds in plain text.
  private func validate(_ name: String, bytes: [UInt8], device: Node) throws(FSError) -> [String]? {
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
    caches.withLock { $0.heartbeats[device.key] = nil }
    let (json, _) = heartbeat(deviceKey: device.key)
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
    if hasHeartbeat {
      caches.withLock { $0.heartbeats[device.key] = nil }
      if let json = heartbeat(deviceKey: device.key).0 {
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
    if let schemaObject { schema = try ruleSchema(schemaObject) }
    return ConfigValidator.Device(knownVersions: known, schema: schema, facts: facts)
  }

  /// A device's rule schema, parsed once per ETag: a device uploads the same schema at every
  /// power cycle, and a fleet of one model shares it, so a save (or a fleet loop of saves)
  /// does not fetch and parse 100 KB of schema each time.
  private func ruleSchema(_ object: ListedObject) throws(FSError) -> JSONValue {
    if !object.etag.isEmpty, let cached = caches.withLock({ $0.schemas[object.etag] }) { return cached }
    let bytes: [UInt8]
    do { bytes = try s3.getObject(key: object.key, ifMatch: object.etag.isEmpty ? nil : object.etag) } catch { throw .s3(error) }
    let schema: JSONValue
    do { schema = try JSONDocument.parse(bytes) } catch {
      throw .invalid("the device's \(object.key) is not valid JSON: \(error)")
    }
    guard !object.etag.isEmpty else { return schema }
    caches.withLock { $0.schemas[object.etag] = schema }
    return schema
  }

  /// The rule schema inside a firmware image staged locally in the device folder as
  /// `firmware-MM.mm.pp.bin` for `version`, if there is one.
  private func stagedFirmwareSchema(in device: Node, version: ConfigVersion) -> JSONValue? {
    let staged = state.withLock { s -> [StagedFile] in
      s.table.presentChildren(of: device.ino).compactMap { child in
        guard child.kind == .object(.scratch), DeviceFileKind.stagedFirmwareVersion(child.name) == version else { return nil }
        return s.scratch[child.ino]
      }
    }
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
