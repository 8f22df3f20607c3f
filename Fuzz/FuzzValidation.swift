import Foundation

// libFuzzer target: JSON parsing, the JSON Schema validator on the real CANedge schema, the
// device rules, firmware validation and PKCS#7 bundles.
nonisolated(unsafe) let schema: JSONValue? = {
  let path = ProcessInfo.processInfo.environment["FUZZ_SCHEMA"] ?? "Tests/Fixtures/schemas/CANedge2/schema-01.09.json"
  return FileManager.default.contents(atPath: path).flatMap { try? JSONDocument.parse([UInt8]($0)) }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let json = try? JSONDocument.parse(bytes) {
    if let schema { _ = JSONSchemaValidator(schema: schema).validate(json) }
    _ = JSONSchemaValidator(schema: json).validate(json)
    _ = ConfigRules.check(json, device: .init(publicKey: nil))
  }
  _ = try? ConfigValidator().validate(
    bytes, version: ConfigVersion(major: 1, minor: 9), device: .init(knownVersions: [], schema: schema))
  _ = try? CertificateBundle(bytes)
  _ = try? FirmwareValidator().validate(bytes, device: .init(typeCode: "0000001F", firmwareVersion: "01.09.01", configs: [:]))
  return 0
}
