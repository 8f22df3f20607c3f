import CANedge
import Foundation
import S3
import Validation

extension FleetFileSystem {
  /// The status of one device folder. With `countData`, sessions and bytes come from a flat
  /// listing of the whole device (one LIST per page); otherwise they are zero.
  func deviceStatus(id: DeviceID, deviceKey: String, countData: Bool) throws(FSError) -> DeviceStatus {
    let page: ListPage
    do { page = try s3.listAll(prefix: deviceKey, delimiter: countData ? nil : "/") } catch { throw .s3(error) }
    let (json, modified) = facts.heartbeat(deviceKey: deviceKey)
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
        let crc = facts.configFacts(key: config.key, etag: config.etag)?.crc
      {
        synced = crc.uppercased() == expected.uppercased()
      }
    }
    // Only configs whose bytes the mount has read (the one above, or opened or saved): no GET.
    var plainTextSecrets: Int?
    for (name, object) in rootObjects {
      guard case .config = DeviceFileKind(name: name), let paths = facts.knownConfigFacts(etag: object.etag)?.plainTextSecrets
      else { continue }
      plainTextSecrets = (plainTextSecrets ?? 0) + paths.count
    }
    var certificates: [CertificateBundle.Certificate]?
    var loaded: Bool?
    if let bundle = rootObjects["certs_server.p7b"], let certs = facts.certificateBundle(key: bundle.key, etag: bundle.etag) {
      certificates = certs
      if let listed = json?["certs_server_sha1"]?.array?.compactMap(\.string).map({ $0.lowercased() }) {
        loaded = certs.isEmpty ? listed.isEmpty : certs.allSatisfy { listed.contains($0.sha1) }
      }
    }
    // Pending: on the server and not yet what the device reports it runs or has loaded.
    var pendingFirmware = false
    if let image = rootObjects["firmware.bin"] {
      let running = json?["fw_ver"]?.string
      pendingFirmware = running == nil || facts.firmwareVersion(key: image.key, etag: image.etag) != running
    }
    return DeviceStatus(
      id: id.rawValue, model: DeviceStatus.model(forType: json?["type"]?.string ?? ""),
      firmwareVersion: json?["fw_ver"]?.string ?? "", lastHeartbeat: modified, configSynced: synced,
      pendingFirmware: pendingFirmware, pendingCertificates: certificates != nil && loaded != true,
      sessions: countData ? sessions.count : page.commonPrefixes.count, bytes: bytes, certificates: certificates,
      certificatesLoaded: loaded, firstRecord: records?.first, lastRecord: records?.last, plainTextSecrets: plainTextSecrets)
  }

  /// `.edgemount/devices.csv`: one row per device folder.
  func devicesReport() -> String {
    var out = DeviceStatus.csvHeader + "\n"
    let devices: [(DeviceID, String)]
    do {
      try refreshIfStale(Self.rootIno)
      devices = tree.presentChildren(of: Self.rootIno).compactMap { node in
        if case .device(let id) = node.kind { return (id, node.key) }
        return nil
      }
    } catch {
      return out
    }
    for (id, key) in devices {
      if let status = try? deviceStatus(id: id, deviceKey: key, countData: true) { out += status.csvRow + "\n" }
    }
    reportSizes.withLock { $0[.devices] = out.utf8.count }
    return out
  }
}
