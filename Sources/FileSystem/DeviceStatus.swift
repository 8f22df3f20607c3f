import CANedge
import Validation

/// What the bucket says about one device: its heartbeat, whether it runs the server's
/// config, what updates are pending, and how much it has logged.
public struct DeviceStatus: Sendable, Equatable {
  public var id: String
  /// Device model from device.json's `type` code (CANedge2, CANedge2 GNSS, …).
  public var model: String
  public var firmwareVersion: String
  /// When device.json was last written (seconds since 1970), if it exists.
  public var lastHeartbeat: Int64?
  /// The server config's CRC-32 equals device.json's `cfg_crc32`; nil when either is missing.
  public var configSynced: Bool?
  /// firmware.bin is on the server and its version is not the one device.json says it runs.
  public var pendingFirmware: Bool
  /// certs_server.p7b is on the server and device.json does not list all of its certificates as loaded.
  public var pendingCertificates: Bool
  public var sessions: Int
  public var bytes: UInt64
  /// The certificates of the server's certs_server.p7b (nil without one).
  public var certificates: [CertificateBundle.Certificate]? = nil
  /// Whether device.json's `certs_server_sha1` lists every certificate of that bundle.
  public var certificatesLoaded: Bool? = nil
  /// The earliest and latest first record among the device's logs whose headers were read
  /// (nanoseconds since 1970); nil when none was.
  public var firstRecord: UInt64? = nil
  public var lastRecord: UInt64? = nil
  /// Device secrets held in plain text by the device's configs that the mount has read
  /// (`DeviceSecrets`); nil when it has read none.
  public var plainTextSecrets: Int? = nil

  static let models: [String: String] = [
    "0000001D": "CANedge1", "0000005D": "CANedge1 GNSS", "0000001F": "CANedge2", "0000005F": "CANedge2 GNSS",
    "0000003D": "CANedge3", "0000007D": "CANedge3 GNSS",
  ]

  public static func model(forType code: String) -> String {
    models[code.uppercased()] ?? (code.isEmpty ? "" : "unknown (\(code))")
  }

  public static let csvHeader =
    "id,model,fw_ver,last_heartbeat,config_synced,pending_firmware,pending_certs,sessions,bytes,first_record,last_record,plaintext_secrets"

  public var csvRow: String {
    let heartbeat = lastHeartbeat.map(ISOTime.string) ?? ""
    // The same spelling as the extended attributes: true, false, unknown.
    let synced = configSynced.map { $0 ? "true" : "false" } ?? "unknown"
    return [
      id, model, firmwareVersion, heartbeat, synced, String(pendingFirmware), String(pendingCertificates),
      String(sessions), String(bytes), firstRecord.map(ISOTime.milliseconds) ?? "", lastRecord.map(ISOTime.milliseconds) ?? "",
      plainTextSecrets.map(String.init) ?? "",
    ].map(CSV.field).joined(separator: ",")
  }
}

/// Fields of the CSV files in `.edgemount/` (RFC 4180: a field with a comma, quote or line
/// break is quoted).
enum CSV {
  static func field(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
      ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }
}
