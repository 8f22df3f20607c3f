import Foundation
import Testing

@testable import S3

/// Which provider the default chain picks for each setting, in the SDKs' order, without a
/// request; and the providers' answers read as untrusted input.
@Suite struct CredentialProviderChainTests {
  /// A transport that must not be used: resolving asks nobody.
  struct NoNetwork: HTTPTransport {
    func perform(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
      throw TransportError(kind: .connect, message: "no network in this test")
    }
  }

  func resolve(_ environment: [String: String], config: String = "", credentials: String = "", profile: String? = nil)
    throws -> String
  {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chain-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try config.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
    try credentials.write(toFile: dir + "/credentials", atomically: true, encoding: .utf8)
    chmod(dir + "/credentials", 0o600)
    var env = environment
    env["AWS_CONFIG_FILE"] = dir + "/config"
    env["AWS_SHARED_CREDENTIALS_FILE"] = dir + "/credentials"
    env["HOME"] = dir
    let chain = CredentialChain(environment: env, profile: profile)
    return try chain.resolveProvider(files: chain.loadFiles(), http: NoNetwork(), metadataHTTP: NoNetwork()).provider.name
  }

  @Test func theChainTakesTheFirstSourceThatIsSetUpInTheSDKsOrder() throws {
    let role = "arn:aws:iam::1:role/r"
    let keys = "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n"
    #expect(try resolve(["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ROLE_ARN": role]) == "environment")
    #expect(
      try resolve(["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": role], credentials: keys) == "web identity \(role)")
    #expect(
      try resolve(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/c"], credentials: keys).hasPrefix("profile default"))
    #expect(try resolve(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/c"]) == "container credentials endpoint")
    #expect(try resolve([:]) == "EC2 instance metadata (IMDSv2)")
    #expect(throws: CredentialChain.Failure.self) { try resolve(["AWS_EC2_METADATA_DISABLED": "true"]) }
    // --profile: that profile only, over environment keys.
    #expect(
      try resolve(
        ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"],
        credentials: "[p]\naws_access_key_id = B\naws_secret_access_key = t\n", profile: "p")
        == "profile p (shared files)")
  }

  @Test func profileShapesGiveTheirProvider() throws {
    let role = "arn:aws:iam::1:role/r"
    let base = "[base]\naws_access_key_id = AKID\naws_secret_access_key = s\n"
    #expect(
      try resolve(["AWS_PROFILE": "p"], config: "[profile p]\nrole_arn = \(role)\nsource_profile = base\n", credentials: base)
        == "AssumeRole \(role) (source: profile base (shared files))")
    // A chain of roles: p assumes its role with q's, which q gets from base's keys.
    let chained = "[profile p]\nrole_arn = \(role)\nsource_profile = q\n[profile q]\nrole_arn = \(role)2\nsource_profile = base\n"
    #expect(
      try resolve(["AWS_PROFILE": "p"], config: chained, credentials: base)
        == "AssumeRole \(role) (source: AssumeRole \(role)2 (source: profile base (shared files)))")
    #expect(
      try resolve(["AWS_PROFILE": "p"], config: "[profile p]\nrole_arn = \(role)\ncredential_source = Ec2InstanceMetadata\n")
        == "AssumeRole \(role) (source: EC2 instance metadata (IMDSv2))")
    #expect(
      try resolve(["AWS_PROFILE": "p"], config: "[profile p]\nrole_arn = \(role)\nweb_identity_token_file = /t\n")
        == "web identity \(role)")
    #expect(
      try resolve(["AWS_PROFILE": "p"], config: "[profile p]\ncredential_process = /bin/true\n")
        == "credential_process of profile p")
    #expect(
      try resolve(
        ["AWS_PROFILE": "p"],
        config:
          "[profile p]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n[sso-session s]\nsso_start_url = https://x/start\nsso_region = eu-west-1\n"
      ) == "SSO 1/R (profile p)")
  }

  @Test func misconfiguredProfilesSayWhatIsMissing() throws {
    let role = "arn:aws:iam::1:role/r"
    for (config, words) in [
      ("[profile p]\nrole_arn = \(role)\n", "no source_profile, credential_source or web_identity_token_file"),
      (
        "[profile p]\nrole_arn = \(role)\nsource_profile = p2\n[profile p2]\nrole_arn = \(role)\nsource_profile = p\n",
        "leads back"
      ),
      ("[profile p]\nrole_arn = \(role)\ncredential_source = Somewhere\n", "credential_source must be"),
      ("[profile p]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n", "[sso-session s] is not in"),
      ("[profile p]\nsso_start_url = https://x\nsso_account_id = 1\nsso_role_name = R\n", "no sso_region"),
    ] {
      let error = #expect(throws: CredentialChain.Failure.self) { try resolve(["AWS_PROFILE": "p"], config: config) }
      #expect(error?.description.contains(words) == true, "\(error?.description ?? "")")
    }
    let insecure = #expect(throws: CredentialChain.Failure.self) {
      try resolve(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.0.0.1/creds"])
    }
    #expect(insecure?.description.contains("must be https") == true)
  }

  @Test func credentialDocumentsAreReadAsUntrustedInput() throws {
    let good = Array(#"{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2026-12-05T08:00:00Z"}"#.utf8)
    let c = try CredentialDocument.credentials(CredentialDocument.object(good, from: "x"), from: "x")
    #expect(c.accessKeyID == "A" && c.sessionToken == "T" && c.expiration == Date(timeIntervalSince1970: 1_796_457_600))
    let fractional = try CredentialDocument.date("2026-12-05T08:00:00.123+00:00")
    #expect(fractional.map { abs($0.timeIntervalSince1970 - 1_796_457_600.123) < 0.001 } == true)
    for bad in [
      "not json", "[]", #"{"AccessKeyId":"A"}"#, #"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"tomorrow"}"#,
      #"{"AccessKeyId":1,"SecretAccessKey":"S"}"#,
    ] {
      let error = #expect(throws: CredentialError.self) {
        try CredentialDocument.credentials(CredentialDocument.object(Array(bad.utf8), from: "x"), from: "x")
      }
      // The message names the provider, never what it answered.
      #expect(error?.description.hasPrefix("x ") == true, "\(bad)")
    }
    #expect(throws: CredentialError.self) {
      try CredentialDocument.object([UInt8](repeating: 0x20, count: 2 << 20), from: "x")
    }
  }

  @Test func stsAnswersAreParsedAndRefusalsNamed() throws {
    let ok = HTTPResponse(
      status: 200, headers: [],
      body: Array(
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken><Expiration>2026-12-05T08:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
          .utf8), segments: [])
    let c = try STSClient.parse(ok, what: "AssumeRole")
    #expect(c.accessKeyID == "ASIA" && c.secretAccessKey == "S" && c.sessionToken == "T" && c.expiration != nil)
    let refused = HTTPResponse(
      status: 403, headers: [],
      body: Array("<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>".utf8),
      segments: [])
    let error = #expect(throws: CredentialError.self) { try STSClient.parse(refused, what: "AssumeRole") }
    #expect(error?.description == "AssumeRole refused: AccessDenied: not allowed")
    for body in [[0xFF, 0xFE, 0x3C], Array("<a><AccessKeyId>x".utf8), []] as [[UInt8]] {
      #expect(throws: CredentialError.self) {
        try STSClient.parse(HTTPResponse(status: 200, headers: [], body: body, segments: []), what: "AssumeRole")
      }
    }
  }
}
