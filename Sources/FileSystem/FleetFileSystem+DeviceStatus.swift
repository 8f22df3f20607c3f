import CANedge
import Foundation
import S3
import Validation

extension FleetFileSystem {
  /// device.json of a device, parsed, and when it was written; cached for the heartbeat TTL.
  func heartbeat(deviceKey: String) -> (JSONValue?, Int64?) {
    let now = ContinuousClock.now
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

  /// The status of one device folder. With `countData`, sessions and bytes come from a flat
  /// listing of the whole device (one LIST per page); otherwise they are zero.
  func deviceStatus(id: DeviceID, deviceKey: String, countData: Bool) throws(FSError) -> DeviceStatus {
    let page: ListPage
    do { page = try s3.listAll(prefix: deviceKey, delimiter: countData ? nil : "/") } catch { throw .s3(error) }
    let (json, modified) = heartbeat(deviceKey: deviceKey)
    var rootObjects: [String: ListedObject] = [:]
    var sessions = Set<String>()
    var bytes: UInt64 = 0
    var records: (first: UInt64, last: UInt64)?
    for object in page.objects {
      let rest = object.key.dropFirst(deviceKey.count)
      if let slash = rest.firstIndex(of: "/") {
        sessions.insert(String(rest[..<slash]))
        bytes += object.size
        // Only headers already read: the file costs no request for them.
        if let name = LogFileName(rest[rest.index(after: slash)...]),
          let time = headers.known(key: object.key, etag: object.etag, name: name), time.source != .uploadName,
          let t = time.firstRecord ?? time.sessionStart
        {
          records = (min(records?.first ?? t, t), max(records?.last ?? t, t))
        }
      } else {
        rootObjects[String(rest)] = object
      }
    }
    var synced: Bool?
    if let json, let expected = json["cfg_crc32"]?.string, !expected.isEmpty {
      let configName = json["cfg_name"]?.string ?? ""
      if let config = rootObjects[configName]
        ?? rootObjects.first(where: { if case .config = DeviceFileKind(name: $0.key) { true } else { false } })?.value,
        let crc = configFacts(key: config.key, etag: config.etag)?.crc
      {
        synced = crc.uppercased() == expected.uppercased()
      }
    }
    // Only configs whose bytes the mount has read (the one above, or opened or saved): no GET.
    var plainTextSecrets: Int?
    for (name, object) in rootObjects {
      guard case .config = DeviceFileKind(name: name), let paths = knownConfigFacts(etag: object.etag)?.plainTextSecrets
      else { continue }
      plainTextSecrets = (plainTextSecrets ?? 0) + paths.count
    }
    var certificates: [CertificateBundle.Certificate]?
    var loaded: Bool?
    if let bundle = rootObjects["certs_server.p7b"], let certs = certificateBundle(key: bundle.key, etag: bundle.etag) {
      certificates = certs
      if let listed = json?["certs_server_sha1"]?.array?.compactMap(\.string).map({ $0.lowercased() }) {
        loaded = certs.isEmpty ? listed.isEmpty : certs.allSatisfy { listed.contains($0.sha1) }
      }
    }
    // Pending: on the server and not yet what the device reports it runs or has loaded.
    var pendingFirmware = false
    if let image = rootObjects["firmware.bin"] {
      let running = json?["fw_ver"]?.string
      pendingFirmware = running == nil || firmwareVersion(key: image.key, etag: image.etag) != running
    }
    return DeviceStatus(
      id: id.rawValue, model: DeviceStatus.model(forType: json?["type"]?.string ?? ""),
      firmwareVersion: json?["fw_ver"]?.string ?? "", lastHeartbeat: modified, configSynced: synced,
      pendingFirmware: pendingFirmware, pendingCertificates: certificates != nil && loaded != true,
      sessions: countData ? sessions.count : page.commonPrefixes.count, bytes: bytes, certificates: certificates,
      certificatesLoaded: loaded, firstRecord: records?.first, lastRecord: records?.last, plainTextSecrets: plainTextSecrets)
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

  /// `.edgemount/devices.csv`: one row per device folder.
  func devicesReport() -> String {
    var out = DeviceStatus.csvHeader + "\n"
    let devices: [(DeviceID, String)]
    do {
      try refreshIfStale(Self.rootIno)
      devices = state.withLock { s in
        s.table.presentChildren(of: Self.rootIno).compactMap { node in
          if case .device(let id) = node.kind { return (id, node.key) }
          return nil
        }
      }
    } catch {
      return out
    }
    for (id, key) in devices {
      if let status = try? deviceStatus(id: id, deviceKey: key, countData: true) { out += status.csvRow + "\n" }
    }
    caches.withLock { $0.reportSizes[.devices] = out.utf8.count }
    return out
  }
}
