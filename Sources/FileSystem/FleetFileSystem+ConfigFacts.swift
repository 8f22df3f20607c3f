import CANedge
import Validation

/// What a config's bytes say, kept by ETag (the bytes behind an ETag never change).
struct ConfigFacts: Sendable {
  /// CRC-32 of the bytes, upper-case hex, as device.json's `cfg_crc32` gives it.
  var crc: String
  /// JSON paths of the device secrets it holds in plain text; nil when it is not JSON.
  var plainTextSecrets: [String]?
}

extension FleetFileSystem {
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
}
