/// The device's cross-field rules that a JSON Schema cannot express. The vendor's config
/// editor warns about each because the device rejects such a configuration.
public enum ConfigRules {
  /// What the rules need to know about the device (from device.json).
  public struct DeviceFacts: Sendable {
    /// The device's public key (`kpub`); encrypted fields (`keyformat` 1) need it.
    public var publicKey: String?
    public init(publicKey: String? = nil) { self.publicKey = publicKey }
  }

  public static let maxTransmitMessages = 224
  public static let maxTransmitDataBytes = 4096
  public static let maxStandardFilters = 128
  public static let maxExtendedFilters = 64

  public static func check(_ config: JSONValue, device: DeviceFacts) -> [SchemaViolation] {
    var out: [SchemaViolation] = []
    if let period = config.value(at: "log.file.split_time_period")?.number,
      let offset = config.value(at: "log.file.split_time_offset")?.number, offset > period
    {
      out.append(
        SchemaViolation(
          path: "$.log.file.split_time_offset",
          message: "\(Int(offset)) exceeds log.file.split_time_period (\(Int(period))): the offset must not exceed the period"))
    }
    for channel in ["can_1", "can_2", "can_internal"] {
      guard let can = config[channel] else { continue }
      checkTransmit(can["transmit"]?.array ?? [], channel: channel, into: &out)
      checkFilters(can.value(at: "filter.id")?.array ?? [], channel: channel, into: &out)
    }
    if let endpoint = config.value(at: "connect.s3.server.endpoint")?.string, endpoint.lowercased().hasPrefix("https://"),
      config.value(at: "connect.s3.server.port")?.number == 80
    {
      out.append(
        SchemaViolation(
          path: "$.connect.s3.server.port",
          message: "port 80 with an https:// endpoint (connect.s3.server.endpoint): use 443 or http://"))
    }
    let hasKey = !(device.publicKey ?? "").isEmpty
    for path in ["connect.wifi.keyformat", "connect.s3.server.keyformat", "log.encryption.keyformat"]
    where config.value(at: path)?.number == 1 && !hasKey {
      out.append(
        SchemaViolation(
          path: "$." + path,
          message: "encrypted key format (1) needs the device's public key (kpub in device.json), which is missing"))
    }
    return out
  }

  private static func checkTransmit(_ messages: [JSONValue], channel: String, into out: inout [SchemaViolation]) {
    if messages.count > maxTransmitMessages {
      out.append(
        SchemaViolation(
          path: "$.\(channel).transmit",
          message: "\(messages.count) transmit messages; at most \(maxTransmitMessages) per channel"))
    }
    var dataBytes = 0
    for (i, message) in messages.enumerated() {
      dataBytes += (message["data"]?.string?.utf8.count ?? 0) / 2
      // A period of 0 means the message is not periodic; otherwise it must exceed the delay.
      if let period = message["period"]?.number, let delay = message["delay"]?.number, period != 0, period <= delay {
        out.append(
          SchemaViolation(
            path: "$.\(channel).transmit[\(i)].period",
            message: "period \(Int(period)) must be greater than delay \(Int(delay))"))
      }
    }
    if dataBytes > maxTransmitDataBytes {
      out.append(
        SchemaViolation(
          path: "$.\(channel).transmit",
          message: "\(dataBytes) bytes of transmit data; at most \(maxTransmitDataBytes) per channel"))
    }
  }

  private static func checkFilters(_ filters: [JSONValue], channel: String, into out: inout [SchemaViolation]) {
    let standard = filters.filter { $0["id_format"]?.number == 0 }.count
    let extended = filters.filter { $0["id_format"]?.number == 1 }.count
    if standard > maxStandardFilters {
      out.append(
        SchemaViolation(
          path: "$.\(channel).filter.id", message: "\(standard) 11-bit filters; at most \(maxStandardFilters) per channel"))
    }
    if extended > maxExtendedFilters {
      out.append(
        SchemaViolation(
          path: "$.\(channel).filter.id", message: "\(extended) 29-bit filters; at most \(maxExtendedFilters) per channel"))
    }
  }
}
