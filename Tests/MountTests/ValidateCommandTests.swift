import CANedge
import Foundation
import TestSupport
import Testing

/// `edgemount validate`, as a CI job before a fleet roll-out runs it: exit 0 valid, 1 invalid
/// with every reason on stderr, 2 for a wrong call.
@Suite struct ValidateCommandTests {
  func validate(_ arguments: [String]) throws -> Command.Result {
    try Command.run([MountedBucket.edgemount, "validate"] + arguments)
  }

  var config: [UInt8] { get throws { try Fixtures.bytes("configs/ce2-01.09-default.json") } }
  var schema: String { Fixtures.url("schemas/CANedge2/schema-01.09.json").path }

  @Test func aValidConfigExitsZeroWithAndWithoutItsSchema() throws {
    let path = try temporaryFile(try config, named: "config-01.09.json")
    #expect(try validate([path]).status == 0)
    #expect(try validate([path, "--schema", schema]).status == 0)
  }

  /// A valid config with the device's secrets in plain text passes with a warning that names
  /// their paths and never their values; an encrypted one passes without.
  @Test func plainTextSecretsAreAWarningWithPathsAndNoValues() throws {
    let plain = try temporaryFile(try Fixtures.bytes("configs/ce2-01.09-plaintext-secrets.json"), named: "config-01.09.json")
    let r = try validate([plain, "--schema", schema])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("warning: 2 plain-text secrets"), "\(r.stderr)")
    #expect(r.stderr.contains("$.connect.s3.server.secretkey") && r.stderr.contains("$.connect.wifi.accesspoint[0].pwd"))
    for value in ["Zx9TopSecretS3KeyQw7", "WifiPassDepot42"] { #expect(!(r.stdout + r.stderr).contains(value)) }
    let device = try temporaryFile(Array(#"{"id":"A1B2C3D4","type":"0000001F","kpub":"AAAA"}"#.utf8), named: "device.json")
    let encrypted = try temporaryFile(
      try Fixtures.bytes("configs/ce2-01.09-encrypted-secrets.json"), named: "config-01.09.json")
    let e = try validate([encrypted, "--schema", schema, "--device-json", device])
    #expect(e.status == 0, "\(e.stderr)")
    #expect(!e.stderr.contains("warning"), "\(e.stderr)")
  }

  @Test func strictSyntaxErrorsExitOneWithLineAndColumn() throws {
    let text = String(decoding: try config, as: UTF8.self)
    let trailing = Array(text.replacingOccurrences(of: "\"cyclic\": 1\n", with: "\"cyclic\": 1,\n").utf8)
    let r = try validate([try temporaryFile(trailing, named: "config-01.09.json")])
    #expect(r.status == 1)
    #expect(r.stderr.contains("line 16, column 5: trailing comma before '}'"), "\(r.stderr)")
    let duplicate = try validate([try temporaryFile(Array("{\"a\": {\"b\": 1, \"b\": 2}}".utf8), named: "x.json")])
    #expect(duplicate.status == 1 && duplicate.stderr.contains("$.a.b"), "\(duplicate.stderr)")
  }

  @Test func everySchemaViolationIsListed() throws {
    let bad = try config.replacing("\"split_size\": 50", "\"split_size\": 9999").replacing("\"cyclic\": 1", "\"cyclic\": 7")
    let r = try validate([try temporaryFile(bad, named: "config-01.09.json"), "--schema", schema])
    #expect(r.status == 1)
    #expect(r.stderr.contains("$.log.file.split_size") && r.stderr.contains("$.log.file.cyclic"), "\(r.stderr)")
  }

  @Test func firmwareAndBundlesAreChecked() throws {
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 4)
    #expect(try validate([try temporaryFile(image, named: "firmware.bin")]).status == 0)
    #expect(
      try validate([
        try temporaryFile(Array("not firmware at all, really".utf8) + [UInt8](repeating: 0, count: 40), named: "firmware.bin")
      ])
      .status == 1)
    let device = try temporaryFile(Array(#"{"type":"0000001F","fw_ver":"01.08.02"}"#.utf8), named: "device.json")
    // 01.08 → 01.09 needs the 01.09 config.
    let upgrade = try validate([try temporaryFile(image, named: "firmware.bin"), "--device-json", device])
    #expect(upgrade.status == 1 && upgrade.stderr.contains("upload config-01.09.json first"), "\(upgrade.stderr)")
    let withConfig = try validate([
      try temporaryFile(image, named: "firmware.bin"), "--device-json", device, "--config",
      try temporaryFile(try config, named: "config-01.09.json"),
    ])
    #expect(withConfig.status == 0, "\(withConfig.stderr)")
    #expect(try validate([try temporaryFile([], named: "certs_server.p7b")]).status == 0)
    #expect(try validate([try temporaryFile(Array("garbage".utf8), named: "certs_server.p7b")]).status == 1)
  }

  @Test func wrongCallsExitTwo() throws {
    #expect(try validate([]).status == 2)
    #expect(try validate(["/nonexistent/config.json"]).status == 2)
    #expect(try validate([try temporaryFile([1], named: "notes.txt")]).status == 2)
    #expect(try validate([try temporaryFile(try config, named: "config-01.09.json"), "--schema", "/nonexistent"]).status == 2)
    #expect(try validate(["--help"]).status == 0)
  }
}
