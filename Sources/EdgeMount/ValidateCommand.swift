import ArgumentParser
import CANedge
import Foundation
import Glibc
import Validation

/// `edgemount validate FILE`: checks a config, `firmware.bin` or `certs_server.p7b` offline with
/// the code the mount runs before an upload. Exit 0 valid, 1 invalid (every reason on stderr),
/// 2 usage error.
public struct ValidateCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "validate",
    abstract: "Check a config, firmware.bin or certs_server.p7b offline, as the mount does before an upload.",
    discussion: """
      A .json file gets the strict JSON check (RFC 8259: no trailing commas, no repeated member \
      names, no BOM, ...); with --schema it is also checked against that rule schema and the \
      device's cross-field rules, and with --firmware against the schema inside a firmware image. \
      A .bin file is checked as a firmware image (model magic, version, embedded schema); with \
      --device-json also against the device (model, and a MAJOR/MINOR change needs the matching \
      --config). A .p7b or .pem file is checked as a certificate bundle (PKCS#7, at most 10 \
      certificates, each valid now). Exit status: 0 valid, 1 invalid, 2 usage error.
      """)

  @Argument(help: "The file to check.")
  var file: String

  @Option(help: "The device's rule schema (schema-MM.mm.json) to check a config against.")
  var schema: String?

  @Option(name: .customLong("device-json"), help: "The device's device.json (model, firmware version, kpub).")
  var deviceJSON: String?

  @Option(help: "A firmware image whose embedded rule schema a config is checked against.")
  var firmware: String?

  @Option(help: "A config the device would have for a firmware check (repeatable; named config-MM.mm.json).")
  var config: [String] = []

  public init() {}

  /// The outcome: `reasons` empty means valid.
  struct Report {
    var reasons: [String] = []
    var notes: [String] = []
  }

  public func run() throws {
    let report: Report
    do {
      report = try check()
    } catch let usage as UsageProblem {
      FileHandle.standardError.write(Data("edgemount validate: \(usage.message)\n".utf8))
      Glibc.exit(2)
    }
    let name = (file as NSString).lastPathComponent
    for note in report.notes { FileHandle.standardError.write(Data("\(name): \(note)\n".utf8)) }
    if report.reasons.isEmpty {
      print("\(name): valid")
      Glibc.exit(0)
    }
    for reason in report.reasons { FileHandle.standardError.write(Data("\(name): \(reason)\n".utf8)) }
    Glibc.exit(1)
  }

  struct UsageProblem: Error {
    var message: String
  }

  private func read(_ path: String, _ what: String) throws(UsageProblem) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw UsageProblem(message: "cannot read \(what) \(path)")
    }
    return [UInt8](data)
  }

  private func readJSON(_ path: String, _ what: String) throws(UsageProblem) -> JSONValue {
    do { return try JSONDocument.parse(try read(path, what)) } catch let e as UsageProblem { throw e } catch {
      throw UsageProblem(message: "\(what) \(path) is not valid JSON: \(error)")
    }
  }

  func check() throws(UsageProblem) -> Report {
    let bytes = try read(file, "the file")
    let name = (file as NSString).lastPathComponent
    let device = try deviceJSON.map { p throws(UsageProblem) in try readJSON(p, "--device-json") }
    let facts = ConfigRules.DeviceFacts(publicKey: device?["kpub"]?.string)
    let lower = name.lowercased()
    if lower.hasSuffix(".json") {
      return try checkConfig(bytes, name: name, device: device, facts: facts)
    }
    if lower.hasSuffix(".bin") {
      return try checkFirmware(bytes, device: device, facts: facts)
    }
    if lower.hasSuffix(".p7b") || lower.hasSuffix(".pem") || lower.hasSuffix(".p7c") {
      do {
        let bundle = try CertificateBundle(bytes)
        var report = Report()
        report.notes = bundle.certificates.map {
          "certificate \($0.subject), valid until \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0.notAfter)))), SHA-1 \($0.sha1)"
        }
        if bundle.certificates.isEmpty {
          report.notes.append("empty bundle: uploading it clears the device's server certificates")
        }
        return report
      } catch {
        return Report(reasons: [error.description])
      }
    }
    throw UsageProblem(message: "\(name): give a .json config, a .bin firmware image or a .p7b/.pem certificate bundle")
  }

  private func checkConfig(_ bytes: [UInt8], name: String, device: JSONValue?, facts: ConfigRules.DeviceFacts)
    throws(UsageProblem) -> Report
  {
    var schemaValue: JSONValue?
    if let schema { schemaValue = try readJSON(schema, "--schema") }
    if let firmware {
      let image: FirmwareImage
      let imageBytes = try read(firmware, "--firmware")
      do { image = try FirmwareImage(imageBytes) } catch { throw UsageProblem(message: "--firmware \(firmware): \(error)") }
      guard let range = image.schemaRange else { throw UsageProblem(message: "--firmware \(firmware) embeds no rule schema") }
      do { schemaValue = try JSONDocument.parse(Array(imageBytes[range])) } catch {
        throw UsageProblem(message: "the schema inside --firmware \(firmware) is not valid JSON: \(error)")
      }
    }
    // The mount's own check: strict syntax, then the schema and the cross-field rules. The
    // version check needs the device's files, which the mount has and this command does not.
    var version = ConfigVersion(major: 0, minor: 0)
    if case .config(let v) = DeviceFileKind(name: name) { version = v }
    var report = Report()
    do {
      _ = try ConfigValidator().validate(
        bytes, version: version, device: .init(knownVersions: [], schema: schemaValue, facts: facts))
      if schemaValue == nil {
        report.notes.append("strict JSON syntax only (give --schema or --firmware for the device's rules)")
      }
    } catch {
      if case .violations(let list) = error {
        report.reasons = list.map(\.description)
      } else {
        report.reasons = [error.description]
      }
    }
    // Valid or not: a file with the device's secrets in plain text is worth a word either way.
    if let document = try? JSONDocument.parse(bytes) {
      let secrets = DeviceSecrets.plainTextPaths(in: document)
      if !secrets.isEmpty { report.notes.append("warning: " + DeviceSecrets.warning(paths: secrets)) }
    }
    if case .config(let version) = DeviceFileKind(name: name), let device,
      let cfg = device["cfg_name"]?.string, cfg != name
    {
      report.notes.append("the device runs \(cfg); this file is for version \(version)")
    }
    return report
  }

  private func checkFirmware(_ bytes: [UInt8], device: JSONValue?, facts: ConfigRules.DeviceFacts) throws(UsageProblem) -> Report
  {
    let image: FirmwareImage
    do { image = try FirmwareImage(bytes) } catch { return Report(reasons: [error.description]) }
    var report = Report(notes: ["\(image.model.rawValue) firmware \(image.version)"])
    if let range = image.schemaRange {
      do { _ = try JSONDocument.parse(Array(bytes[range])) } catch {
        report.reasons.append("the image's embedded rule schema is not valid JSON (\(error))")
        return report
      }
    }
    guard let device else {
      report.notes.append("header only (give --device-json to check it against a device)")
      return report
    }
    var configs: [ConfigVersion: [UInt8]] = [:]
    for path in config {
      guard case .config(let v) = DeviceFileKind(name: (path as NSString).lastPathComponent) else {
        throw UsageProblem(message: "--config \(path) must be named config-MM.mm.json")
      }
      configs[v] = try read(path, "--config")
    }
    let context = FirmwareValidator.Device(
      typeCode: device["type"]?.string, firmwareVersion: device["fw_ver"]?.string, configs: configs, facts: facts)
    do { try FirmwareValidator().validate(bytes, device: context) } catch { report.reasons.append(error.description) }
    return report
  }
}
