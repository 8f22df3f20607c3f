import CANedge
import TestSupport
import Testing

@testable import Validation

/// Which of a config's fields hold the device's secrets in plain text, and that no message
/// about a config ever quotes one.
@Suite struct DeviceSecretsTests {
  let v0109 = ConfigVersion(major: 1, minor: 9)
  /// The values in `ce2-01.09-plaintext-secrets.json`.
  static let secretValues = ["Zx9TopSecretS3KeyQw7", "WifiPassDepot42"]

  func paths(_ json: String) throws -> [String] { DeviceSecrets.plainTextPaths(in: try JSONDocument.parse(Array(json.utf8))) }

  func schemaDevice(kpub: String? = nil) throws -> ConfigValidator.Device {
    ConfigValidator.Device(
      knownVersions: [v0109], schema: try JSONDocument.parse(try Fixtures.bytes("schemas/CANedge2/schema-01.09.json")),
      facts: .init(publicKey: kpub))
  }

  @Test func theDefaultConfigHoldsNone() throws {
    let config = try JSONDocument.parse(try Fixtures.bytes("configs/ce2-01.09-default.json"))
    #expect(DeviceSecrets.plainTextPaths(in: config).isEmpty)
  }

  @Test func plainS3SecretKeyAndWiFiPasswordAreFoundButNotAnEmptyPassword() throws {
    let bytes = try Fixtures.bytes("configs/ce2-01.09-plaintext-secrets.json")
    let accepted = try ConfigValidator().validate(bytes, version: v0109, device: try schemaDevice())
    #expect(accepted.plainTextSecrets == ["$.connect.s3.server.secretkey", "$.connect.wifi.accesspoint[0].pwd"])
  }

  @Test func secretsEncryptedWithKeyformatOneAreNotPlainText() throws {
    let bytes = try Fixtures.bytes("configs/ce2-01.09-encrypted-secrets.json")
    let accepted = try ConfigValidator().validate(bytes, version: v0109, device: try schemaDevice(kpub: "AAAA"))
    #expect(accepted.plainTextSecrets.isEmpty)
  }

  @Test func logEncryptionWebServerAndCellularSecretsFollowTheirOwnFormat() throws {
    #expect(try paths(#"{"log":{"encryption":{"state":1,"keyformat":0,"pwd":"p"}}}"#) == ["$.log.encryption.pwd"])
    #expect(try paths(#"{"log":{"encryption":{"state":1,"keyformat":1,"pwd":"B1Dl"}}}"#).isEmpty)
    #expect(try paths(#"{"connect":{"webserver":{"security":1,"password":"p"}}}"#) == ["$.connect.webserver.password"])
    #expect(try paths(#"{"connect":{"webserver":{"security":2,"password":"B1Dl"}}}"#).isEmpty)
    // A cellular model: the SIM PIN and the APN password under the cellular keyformat.
    let cellular = #"{"connect":{"cellular":{"keyformat":0,"pin":"1234","apn":{"name":"internet","user":"u","pwd":"a"}}}}"#
    #expect(try paths(cellular) == ["$.connect.cellular.apn.pwd", "$.connect.cellular.pin"])
    #expect(try paths(cellular.replacingOccurrences(of: #""keyformat":0"#, with: #""keyformat":1"#)).isEmpty)
    // No keyformat anywhere: the device keeps it as written, in plain text.
    #expect(try paths(#"{"a":[{"secretkey":"k"},{"secretkey":""}]}"#) == ["$.a[0].secretkey"])
  }

  @Test func aSecretPathIsKnownByItsLastName() {
    #expect(DeviceSecrets.isSecretPath("$.connect.s3.server.secretkey"))
    #expect(DeviceSecrets.isSecretPath("$.connect.wifi.accesspoint[2].pwd"))
    #expect(DeviceSecrets.isSecretPath(#"$.x["pwd"]"#))
    #expect(!DeviceSecrets.isSecretPath("$.connect.s3.server.accesskey"))
    #expect(!DeviceSecrets.isSecretPath("$.connect.wifi.accesspoint[2]"))
  }

  @Test func theWarningNamesPathsAndNeverValues() throws {
    let bytes = try Fixtures.bytes("configs/ce2-01.09-plaintext-secrets.json")
    let warning = DeviceSecrets.warning(paths: DeviceSecrets.plainTextPaths(in: try JSONDocument.parse(bytes)))
    #expect(warning.contains("$.connect.s3.server.secretkey") && warning.contains("keyformat 1"))
    for value in Self.secretValues { #expect(!warning.contains(value)) }
  }

  /// Every way a save with a secret in it can be refused: the reason names the path and the
  /// position, never the value, nor a character of it.
  @Test func refusalsNeverQuoteASecret() throws {
    let text = String(decoding: try Fixtures.bytes("configs/ce2-01.09-plaintext-secrets.json"), as: UTF8.self)
    let secret = "Zx9TopSecretS3KeyQw7"
    let variants: [(String, String)] = [
      // The schema: an encrypted key format needs base64 of 24 characters or more.
      (
        "pattern",
        text.replacingOccurrences(
          of: #""request_style": 0,\#n        "keyformat": 0"#, with: #""request_style": 0,\#n        "keyformat": 1"#
        )
        .replacingOccurrences(of: secret, with: secret + " !! and more text to pass 24")
      ),
      ("wifi pattern", text.replacingOccurrences(of: "WifiPassDepot42", with: " WifiPassDepot42")),
      // Syntax: the value not quoted, an invalid escape, a stray character after it.
      ("unquoted", text.replacingOccurrences(of: "\"\(secret)\"", with: secret)),
      ("escape", text.replacingOccurrences(of: secret, with: "Zx9\\qTop")),
      ("after", text.replacingOccurrences(of: "\"\(secret)\"", with: "\"Zx9\"Top")),
      ("surrogate", text.replacingOccurrences(of: secret, with: "Zx9\\uD8AB")),
    ]
    for (what, variant) in variants {
      #expect(variant != text, "\(what): the fixture changed")
      let error = #expect(throws: ConfigValidator.Rejection.self, "\(what)") {
        try ConfigValidator().validate(Array(variant.utf8), version: v0109, device: try schemaDevice())
      }
      let reason = error.map { "\($0)" } ?? ""
      #expect(!reason.isEmpty)
      for leak in [secret, "Zx9", "'Z'", "'T'", "\\q", "D8AB", "WifiPass"] {
        #expect(!reason.contains(leak), "\(what): \(reason)")
      }
    }
  }
}
