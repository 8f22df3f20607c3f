import CANedge
import Cache
import Foundation
import Locking
import Logging
import S3
import Validation

/// What a config's bytes say, kept by ETag (the bytes behind an ETag never change).
struct ConfigFacts: Sendable {
  /// CRC-32 of the bytes, upper-case hex, as device.json's `cfg_crc32` gives it.
  var crc: String
  /// JSON paths of the device secrets it holds in plain text; nil when it is not JSON.
  var plainTextSecrets: [String]?
}

/// What the mount knows about devices' files from bytes it fetched: heartbeats (for the
/// heartbeat TTL), configs' CRC-32 and plain-text secrets, rule schemas, firmware versions,
/// certificate bundles and objects' user metadata. Each cache is bounded, least recently used
/// dropped first (`.edgemount/status` shows their sizes and limits); everything but heartbeats
/// is kept by ETag, since the bytes behind an ETag never change.
final class DeviceFacts: CorePart, Sendable {
  struct Caches: Sendable {
    struct Heartbeat: Sendable {
      var fetched: ContinuousClock.Instant
      var json: JSONValue?
      var modified: Int64?
    }
    var heartbeats = BoundedCache<String, Heartbeat>(limit: 4096)
    /// What configs' bytes say (CRC-32, plain-text secrets) by ETag.
    var configFacts = BoundedCache<String, ConfigFacts>(limit: 4096)
    /// The plain-text secret paths last reported in `.edgemount/errors`, by config key: one
    /// line per device and file, again only when the paths change.
    var reportedSecrets = BoundedCache<String, [String]>(limit: 4096)
    /// Parsed rule schemas by ETag (one per model and firmware version in practice).
    var schemas = BoundedCache<String, JSONValue>(limit: 32)
    /// Firmware images' header versions by ETag.
    var firmwareVersions = BoundedCache<String, String>(limit: 1024)
    /// HeadObject metadata by key + ETag.
    var metadata = BoundedCache<String, [String: String]>(limit: 65_536)
    /// Certificates of bundles by ETag.
    var bundles = BoundedCache<String, [CertificateBundle.Certificate]>(limit: 1024)
  }

  let context: CoreContext
  private let caches = Locked(Caches())

  init(context: CoreContext) { self.context = context }

  /// device.json of a device, parsed, and when it was written; cached for the heartbeat TTL.
  func heartbeat(deviceKey: String) -> (JSONValue?, Int64?) {
    let now = clock.instant()
    if let cached = caches.withLock({ $0.heartbeats[deviceKey] }), now - cached.fetched < settings.heartbeatTTL {
      return (cached.json, cached.modified)
    }
    var json: JSONValue?
    var modified: Int64?
    if let object = try? s3.getWholeObject(key: deviceKey + "device.json") {
      json = try? JSONDocument.parse(object.bytes)
      modified = object.lastModified
    }
    caches.withLock { $0.heartbeats[deviceKey] = .init(fetched: now, json: json, modified: modified) }
    return (json, modified)
  }

  /// The version (`MM.mm.pp`) in a firmware image's header, from one ranged GET cached by ETag.
  func firmwareVersion(key: String, etag: String) -> String? {
    if let cached = caches.withLock({ $0.firmwareVersions[etag] }) { return cached }
    guard let header = try? s3.getObject(key: key, range: 0..<8, ifMatch: etag.isEmpty ? nil : etag), header.count >= 7
    else { return nil }
    let version = header[4...6].map { $0 < 10 ? "0\($0)" : "\($0)" }.joined(separator: ".")
    caches.withLock { $0.firmwareVersions[etag] = version }
    return version
  }

  /// The certificates of a bundle on the server, cached by ETag (expired ones included).
  func certificateBundle(key: String, etag: String) -> [CertificateBundle.Certificate]? {
    if let cached = caches.withLock({ $0.bundles[etag] }) { return cached }
    guard let bytes = try? s3.getObject(key: key, ifMatch: etag.isEmpty ? nil : etag),
      let bundle = try? CertificateBundle(bytes, checkingDates: false)
    else { return nil }
    caches.withLock { $0.bundles[etag] = bundle.certificates }
    return bundle.certificates
  }

  /// What a config's bytes say, from bytes the mount read or saved anyway: kept by ETag for
  /// `devices.csv` and `config_synced`, and a config with plain-text secrets is reported in
  /// `.edgemount/errors` (its paths, never the values) once per device and file.
  @discardableResult
  func noteConfig(key: String, etag: String, bytes: [UInt8], plainTextSecrets known: [String]? = nil) -> ConfigFacts {
    // An editor opens a config several times: its bytes are read once per ETag.
    let facts =
      knownConfigFacts(etag: etag)
      ?? ConfigFacts(
        crc: CRC32.hex(bytes),
        plainTextSecrets: known ?? (try? JSONDocument.parse(bytes)).map(DeviceSecrets.plainTextPaths(in:)))
    let paths = facts.plainTextSecrets ?? []
    let report = caches.withLock { c -> Bool in
      if !etag.isEmpty { c.configFacts[etag] = facts }
      let changed = (c.reportedSecrets[key] ?? []) != paths
      if changed { c.reportedSecrets[key] = paths }
      return changed && !paths.isEmpty
    }
    if report {
      let line = "\(key.dropFirst(settings.rootPrefix.count)): warning: \(DeviceSecrets.warning(paths: paths))"
      errors.append(line)
      logger.warning("\(line)")
    }
    return facts
  }

  /// What the server's config says, from one GET per ETag when the mount has not read it yet.
  func configFacts(key: String, etag: String) -> ConfigFacts? {
    if !etag.isEmpty, let cached = caches.withLock({ $0.configFacts[etag] }) { return cached }
    guard let bytes = try? s3.getObject(key: key, ifMatch: etag.isEmpty ? nil : etag) else { return nil }
    return noteConfig(key: key, etag: etag, bytes: bytes)
  }

  /// What is known of a config without a request.
  func knownConfigFacts(etag: String) -> ConfigFacts? {
    etag.isEmpty ? nil : caches.withLock { $0.configFacts[etag] }
  }

  /// A device's rule schema, parsed once per ETag: a device uploads the same schema at every
  /// power cycle, and a fleet of one model shares it, so a save (or a fleet loop of saves)
  /// does not fetch and parse 100 KB of schema each time.
  func ruleSchema(_ object: ListedObject) throws(FSError) -> JSONValue {
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

  /// `x-amz-meta-*` of an object, from one HEAD cached by key and ETag.
  func objectMetadata(key: String, etag: String) throws(FSError) -> [String: String] {
    let cacheKey = key + "\u{0}" + etag
    if let cached = caches.withLock({ $0.metadata[cacheKey] }) { return cached }
    do {
      let head = try s3.headObject(key: key)
      caches.withLock { $0.metadata[cacheKey] = head.metadata }
      return head.metadata
    } catch {
      throw .s3(error)
    }
  }

  /// The caches' sizes and bounds, for `.edgemount/status`.
  var cacheSizes: [(String, Int, Int)] {
    caches.withLock { c in
      [
        ("heartbeats", c.heartbeats.count, c.heartbeats.limit), ("config_facts", c.configFacts.count, c.configFacts.limit),
        ("reported_secrets", c.reportedSecrets.count, c.reportedSecrets.limit),
        ("schemas", c.schemas.count, c.schemas.limit),
        ("firmware_versions", c.firmwareVersions.count, c.firmwareVersions.limit),
        ("object_metadata", c.metadata.count, c.metadata.limit), ("certificate_bundles", c.bundles.count, c.bundles.limit),
      ]
    }
  }

  /// The next `heartbeat` of the device fetches device.json again.
  func forgetHeartbeat(deviceKey: String) { caches.withLock { $0.heartbeats[deviceKey] = nil } }
}
