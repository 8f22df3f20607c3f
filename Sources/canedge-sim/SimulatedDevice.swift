import CANedge
import DemoFleet
import Foundation
import S3
import Validation

/// One CANedge as the bucket sees it: it uploads its rule schema at power-up and its config
/// when the server has none, polls for a changed config and applies a valid one (reporting
/// its CRC-32 in device.json), sends heartbeats, and uploads log files — sometimes twice, as
/// a device does when an upload confirmation is lost.
final class SimulatedDevice {
  let s3: S3Client
  let id: String
  let type: String
  var firmware: String
  let schema: [UInt8]
  let defaultConfig: [UInt8]
  let duplicateRate: Double
  var appliedETag: String?
  var appliedCRC = "00000000"
  var firmwareETag: String?
  var certificatesETag: String?
  var certificateSHA1s: [String] = []
  /// Schemas by version, for firmware updates whose image embeds none.
  var schemasByVersion: [String: [UInt8]] = [:]
  var session = 1
  var split = 0
  var rng = SplitMix64(seed: UInt64(Date().timeIntervalSince1970))

  init(s3: S3Client, id: String, type: String, firmware: String, schema: [UInt8], defaultConfig: [UInt8], duplicateRate: Double) {
    self.s3 = s3
    self.id = id
    self.type = type
    self.firmware = firmware
    self.schema = schema
    self.defaultConfig = defaultConfig
    self.duplicateRate = duplicateRate
  }

  var version: String { firmware.split(separator: ".").prefix(2).joined(separator: ".") }
  var configKey: String { "\(id)/config-\(version).json" }

  func log(_ text: String) { FileHandle.standardOutput.write(Data("[\(id)] \(text)\n".utf8)) }

  /// Power-up: schema, then the config (uploaded when the server has none).
  func powerUp() throws {
    try s3.putObject(key: "\(id)/schema-\(version).json", body: schema, contentType: "application/json")
    do {
      let head = try s3.headObject(key: configKey)
      try apply(try s3.getObject(key: configKey, ifMatch: head.etag), etag: head.etag)
    } catch let error as S3Error where error.isNotFound {
      let etag = try s3.putObject(key: configKey, body: defaultConfig, contentType: "application/json", condition: .ifNoneMatch)
      try apply(defaultConfig, etag: etag)
      log("uploaded its config \(configKey)")
    }
  }

  /// One OTA poll: a changed config is downloaded and, if valid, applied.
  func poll() throws {
    guard let head = try? s3.headObject(key: configKey) else { return }
    guard head.etag != appliedETag else { return }
    let bytes = try s3.getObject(key: configKey, ifMatch: head.etag)
    guard (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any] else {
      log("rejected an invalid config (etag \(head.etag)); keeps running the old one")
      appliedETag = head.etag
      return
    }
    try apply(bytes, etag: head.etag)
    log("applied new config, CRC-32 \(appliedCRC)")
  }

  /// FOTA: a new firmware.bin for this model is installed; a MAJOR/MINOR change needs the
  /// config for the new version on the server, or the update is aborted.
  func pollFirmware() throws {
    guard let head = try? s3.headObject(key: "\(id)/firmware.bin"), head.etag != firmwareETag else { return }
    firmwareETag = head.etag
    let bytes = try s3.getObject(key: "\(id)/firmware.bin", ifMatch: head.etag)
    guard let image = try? FirmwareImage(bytes), image.model.typeCode == type else {
      log("ignored a firmware.bin that is not for this model")
      return
    }
    guard image.version != firmware else { return }
    let newVersion = image.configVersion.description
    if newVersion != version {
      guard (try? s3.headObject(key: "\(id)/config-\(newVersion).json")) != nil else {
        log("aborted the update to \(image.version): config-\(newVersion).json is missing")
        return
      }
    }
    firmware = image.version
    log("installed firmware \(image.version)")
    let schema = image.schemaRange.map { Array(bytes[$0]) } ?? schemasByVersion[newVersion]
    if let schema { try s3.putObject(key: "\(id)/schema-\(newVersion).json", body: schema, contentType: "application/json") }
    appliedETag = nil
    try poll()
  }

  /// Server certificates over-the-air: a valid bundle is loaded and reported in device.json.
  func pollCertificates() throws {
    guard let head = try? s3.headObject(key: "\(id)/certs_server.p7b"), head.etag != certificatesETag else { return }
    certificatesETag = head.etag
    let bytes = try s3.getObject(key: "\(id)/certs_server.p7b", ifMatch: head.etag)
    do {
      certificateSHA1s = try CertificateBundle(bytes).certificates.map(\.sha1)
      log("loaded \(certificateSHA1s.count) server certificates")
    } catch {
      log("rejected certs_server.p7b: \(error)")
    }
  }

  private func apply(_ bytes: [UInt8], etag: String) throws {
    appliedETag = etag
    appliedCRC = CRC32.hex(bytes)
  }

  func heartbeat() throws {
    let text = """
      {
        "id": "\(id)",
        "type": "\(type)",
        "kpub": "",
        "fw_ver": "\(firmware)",
        "hw_ver": "00.02",
        "cfg_ver": "\(version)",
        "cfg_name": "config-\(version).json",
        "cfg_crc32": "\(appliedCRC)",
        "sch_name": "schema-\(version).json",
        "log_meta": "",
        "space_used_mb": "\(split)/30436",
        "sd_info": "",
        "sd_used_lifespan": "1%",
        "reset_cause": "0",
        "certs_server_sha1": [\(certificateSHA1s.map { "\"\($0)\"" }.joined(separator: ", "))]
      }

      """
    try s3.putObject(key: "\(id)/device.json", body: Array(text.utf8), contentType: "application/json")
  }

  func uploadLog() throws {
    split += 1
    let epoch = UInt32(Date().timeIntervalSince1970)
    var body = Array("UnFinMF 4.11    ".utf8)
    for _ in 0..<(2048 + Int(rng.next() % 4096)) { body.append(UInt8(truncatingIfNeeded: rng.next())) }
    let name = String(format: "%08d/%08d-%08X.MF4", session, split, epoch)
    let metadata = ["hw": "00.02", "fw": firmware, "net": "sim", "put-index": String(split)]
    try s3.putObject(key: "\(id)/\(name)", body: body, metadata: metadata)
    if Double(rng.next() % 1000) / 1000 < duplicateRate {
      let copy = String(format: "%08d/%08d-%08X.MF4", session, split, epoch + 5)
      try s3.putObject(key: "\(id)/\(copy)", body: body, metadata: metadata)
      log("uploaded \(name) twice (lost confirmation)")
    }
  }
}
