import CANedge

/// Decides whether a `firmware.bin` may be offered to a device: the image is for the device's
/// model, and a MAJOR/MINOR change comes with the matching config already on the server (the
/// device aborts the update otherwise), valid against the firmware's own rule schema when the
/// image embeds one.
public struct FirmwareValidator: Sendable {
  /// What the bucket says about the device.
  public struct Device: Sendable {
    /// device.json's `type`.
    public var typeCode: String?
    /// device.json's `fw_ver` (`MM.mm.pp`).
    public var firmwareVersion: String?
    /// The device's `config-MM.mm.json` files on the server, by version.
    public var configs: [ConfigVersion: [UInt8]]
    public var facts: ConfigRules.DeviceFacts

    public init(
      typeCode: String?, firmwareVersion: String?, configs: [ConfigVersion: [UInt8]], facts: ConfigRules.DeviceFacts = .init()
    ) {
      self.typeCode = typeCode
      self.firmwareVersion = firmwareVersion
      self.configs = configs
      self.facts = facts
    }
  }

  public init() {}

  public struct Rejection: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
  }

  @discardableResult
  public func validate(_ bytes: [UInt8], device: Device) throws(Rejection) -> FirmwareImage {
    let image: FirmwareImage
    do { image = try FirmwareImage(bytes) } catch { throw Rejection(description: error.description) }
    guard let code = device.typeCode, let model = DeviceModel(typeCode: code) else {
      throw Rejection(
        description: "the device's model is unknown (no device.json with a known type): cannot check the image is for it")
    }
    guard image.model == model else {
      throw Rejection(description: "this image is \(image.model.rawValue) firmware; the device is a \(model.rawValue)")
    }
    let current = device.firmwareVersion.flatMap { ConfigVersion($0.split(separator: ".").prefix(2).joined(separator: ".")) }
    let target = image.configVersion
    if current != target {
      guard let config = device.configs[target] else {
        let from = current?.description ?? "unknown"
        throw Rejection(
          description:
            "firmware \(image.version) changes MAJOR.MINOR (\(from) → \(target)): upload config-\(target).json first, or the device aborts the update"
        )
      }
      if let range = image.schemaRange {
        let schemaBytes = Array(bytes[range])
        let schema: JSONValue
        do { schema = try JSONDocument.parse(schemaBytes) } catch {
          throw Rejection(description: "the image's embedded rule schema is not valid JSON (\(error))")
        }
        do {
          _ = try ConfigValidator().validate(
            config, version: target, device: .init(knownVersions: [target], schema: schema, facts: device.facts))
        } catch {
          throw Rejection(description: "config-\(target).json on the server is not valid for firmware \(image.version): \(error)")
        }
      }
    }
    return image
  }
}
