import CANedge
import TestSupport
import Testing

@testable import Validation

@Suite struct ConfigValidatorTests {
  let v0109 = ConfigVersion(major: 1, minor: 9)

  func device(schema: Bool = true, kpub: String? = nil) throws -> ConfigValidator.Device {
    ConfigValidator.Device(
      knownVersions: [v0109],
      schema: schema ? try JSONDocument.parse(try Fixtures.bytes("schemas/CANedge2/schema-01.09.json")) : nil,
      facts: .init(publicKey: kpub))
  }

  var config: [UInt8] { get throws { try Fixtures.bytes("configs/ce2-01.09-default.json") } }

  @Test func acceptsTheDefaultConfig() throws {
    #expect(try ConfigValidator().validate(try config, version: v0109, device: try device()).warning == nil)
  }

  @Test func syntaxErrorsCarryLineAndColumn() throws {
    let text = "{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}"
    let error = #expect(throws: ConfigValidator.Rejection.self) {
      try ConfigValidator().validate(Array(text.utf8), version: v0109, device: try device())
    }
    guard case .syntax(let e)? = error else { Issue.record("expected a syntax error"); return }
    #expect(e.line == 3, "\(e)")
    #expect(e.description.hasPrefix("line 3, column"))
  }

  @Test func truncatedAndEmptyFilesAreSyntaxErrors() throws {
    let full = try config
    for bytes in [Array(full.prefix(full.count / 2)), [], Array("   \n".utf8), [0xFF, 0xFE]] {
      #expect(throws: ConfigValidator.Rejection.self) {
        try ConfigValidator().validate(bytes, version: v0109, device: try device())
      }
    }
  }

  @Test func unknownVersionIsRefused() throws {
    let error = #expect(throws: ConfigValidator.Rejection.self) {
      try ConfigValidator().validate(try config, version: ConfigVersion(major: 1, minor: 7), device: try device())
    }
    #expect(error?.description.hasPrefix("version 01.07 is not one this device knows (known: 01.09)") == true)
    #expect(error?.description.contains("firmware-01.07.pp.bin") == true, "the way to stage the image is named")
  }

  @Test func aNewerVersionIsTheFirstStepOfAnUpgradeAndOnlyWarns() throws {
    let result = try ConfigValidator().validate(
      try config, version: ConfigVersion(major: 1, minor: 10), device: try device(schema: false))
    #expect(result.warning?.contains("newer than the device's (01.09)") == true)
    #expect(throws: ConfigValidator.Rejection.self) {
      try ConfigValidator().validate(
        Array("{".utf8), version: ConfigVersion(major: 1, minor: 10), device: try device(schema: false))
    }
  }

  @Test func withoutASchemaOnlyJSONIsCheckedWithAWarning() throws {
    let result = try ConfigValidator().validate(
      Array("{\"anything\": true}".utf8), version: v0109, device: try device(schema: false))
    #expect(result.warning?.contains("no schema-01.09.json") == true)
  }

  @Test func crossFieldRulesNameTheFields() throws {
    var doc = try JSONDocument.parse(try config)
    doc = try doc.setting("log.file.split_time_period", to: .number(60)).setting("log.file.split_time_offset", to: .number(120))
    let error = #expect(throws: ConfigValidator.Rejection.self) {
      try ConfigValidator().validate(Array(doc.serialized.utf8), version: v0109, device: try device())
    }
    #expect(error?.description.contains("$.log.file.split_time_offset") == true)
    #expect(error?.description.contains("split_time_period") == true)
  }

  @Test func transmitFilterEndpointAndKeyRules() throws {
    let message: JSONValue = .object([
      "state": .number(1), "id_format": .number(0), "frame_format": .number(0), "brs": .number(0), "log": .number(0),
      "period": .number(10), "delay": .number(20), "id": .string("123"), "data": .string("0011"),
    ])
    let filter11: JSONValue = .object(["id_format": .number(0)])
    let config: JSONValue = .object([
      "can_1": .object(["transmit": .array([message]), "filter": .object(["id": .array(Array(repeating: filter11, count: 129))])]
      ),
      "can_2": .object(["transmit": .array(Array(repeating: message, count: 225))]),
      "connect": .object([
        "s3": .object([
          "server": .object(["endpoint": .string("https://s3.example.com"), "port": .number(80), "keyformat": .number(1)])
        ])
      ]),
    ])
    let found = ConfigRules.check(config, device: .init(publicKey: nil)).map(\.path)
    #expect(found.contains("$.can_1.transmit[0].period"))
    #expect(found.contains("$.can_1.filter.id"))
    #expect(found.contains("$.can_2.transmit"))
    #expect(found.contains("$.connect.s3.server.port"))
    #expect(found.contains("$.connect.s3.server.keyformat"))
    #expect(
      !ConfigRules.check(config, device: .init(publicKey: "A4T5g+am")).map(\.path).contains("$.connect.s3.server.keyformat"))
  }
}
