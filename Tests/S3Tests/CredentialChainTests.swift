import Foundation
import S3
import Testing

@Suite struct CredentialChainTests {
  let credentialsText = """
    [default]
    aws_access_key_id = AKIDDEFAULT
    aws_secret_access_key = defaultsecret ; comment
    # a comment
    [fleet]
    aws_access_key_id=AKIDFLEET
    aws_secret_access_key=fleet/secret=
    aws_session_token = tok
    """
  let configText = """
    [default]
    region = eu-central-1
    [profile fleet]
    region = us-west-2
    s3 =
      endpoint_url = http://127.0.0.1:9000
    [sso-session x]
    region = nowhere
    """

  @Test func parsesProfilesCommentsAndNestedSections() {
    let creds = AWSConfigFile(text: credentialsText, isConfigFile: false)
    #expect(creds.value("aws_secret_access_key", profile: "default") == "defaultsecret")
    #expect(creds.value("aws_secret_access_key", profile: "fleet") == "fleet/secret=")
    let config = AWSConfigFile(text: configText, isConfigFile: true)
    #expect(config.value("region", profile: "fleet") == "us-west-2")
    #expect(config.value("s3.endpoint_url", profile: "fleet") == "http://127.0.0.1:9000")
    // [sso-session x] is no profile x: it is kept apart, for the SSO provider.
    #expect(config.profiles["x"] == nil && config.profiles["sso-session x"] != nil)
  }

  func withFiles(_ body: (String, String) throws -> Void) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let c = dir.appendingPathComponent("credentials").path
    let f = dir.appendingPathComponent("config").path
    try credentialsText.write(toFile: c, atomically: true, encoding: .utf8)
    try configText.write(toFile: f, atomically: true, encoding: .utf8)
    chmod(c, 0o600)
    try body(c, f)
  }

  @Test func environmentWinsOverFiles() throws {
    try withFiles { c, f in
      let chain = CredentialChain(environment: [
        "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SHARED_CREDENTIALS_FILE": c,
        "AWS_CONFIG_FILE": f,
      ])
      let creds = try chain.resolveCredentials(files: chain.loadFiles())
      #expect(creds.accessKeyID == "AKIDENV" && creds.source == "environment")
    }
  }

  @Test func profileFromEnvironmentSelectsFileSectionAndRegion() throws {
    try withFiles { c, f in
      let chain = CredentialChain(environment: ["AWS_PROFILE": "fleet", "AWS_SHARED_CREDENTIALS_FILE": c, "AWS_CONFIG_FILE": f])
      let files = chain.loadFiles()
      let creds = try chain.resolveCredentials(files: files)
      #expect(creds.accessKeyID == "AKIDFLEET" && creds.sessionToken == "tok")
      #expect(chain.region(files: files) == "us-west-2")
      #expect(chain.endpoint(files: files) == "http://127.0.0.1:9000")
      #expect(files.warnings.isEmpty)
    }
  }

  @Test func anEmptyRegionOrEndpointVariableCountsAsUnset() throws {
    try withFiles { c, f in
      let chain = CredentialChain(environment: [
        "AWS_PROFILE": "fleet", "AWS_SHARED_CREDENTIALS_FILE": c, "AWS_CONFIG_FILE": f, "AWS_REGION": "",
        "AWS_ENDPOINT_URL": "",
      ])
      let files = chain.loadFiles()
      #expect(chain.region(files: files) == "us-west-2")
      #expect(chain.endpoint(files: files) == "http://127.0.0.1:9000")
      let env = CredentialChain(environment: ["AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-central-1"])
      #expect(env.region(files: env.loadFiles()) == "eu-central-1")
    }
  }

  @Test func explicitProfileBeatsEnvironmentKeys() throws {
    try withFiles { c, f in
      let chain = CredentialChain(
        environment: [
          "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SHARED_CREDENTIALS_FILE": c, "AWS_CONFIG_FILE": f,
        ],
        profile: "fleet")
      let id = try chain.resolveCredentials(files: chain.loadFiles()).accessKeyID
      #expect(id == "AKIDFLEET")
    }
  }

  @Test func missingProfileIsAClearErrorWithoutSecrets() throws {
    try withFiles { c, f in
      let chain = CredentialChain(environment: ["AWS_SHARED_CREDENTIALS_FILE": c, "AWS_CONFIG_FILE": f], profile: "nope")
      let error = #expect(throws: CredentialChain.Failure.self) { try chain.resolveCredentials(files: chain.loadFiles()) }
      #expect(error?.description.contains("profile 'nope'") == true)
      #expect(error?.description.contains("secret") == false)
    }
  }

  @Test func worldReadableCredentialsFileIsWarnedAbout() throws {
    try withFiles { c, f in
      chmod(c, 0o644)
      let chain = CredentialChain(environment: ["AWS_SHARED_CREDENTIALS_FILE": c, "AWS_CONFIG_FILE": f])
      #expect(chain.loadFiles().warnings.first?.contains("readable by other users") == true)
    }
  }

  @Test func credentialsNeverDescribeTheirSecret() {
    let creds = Credentials(accessKeyID: "AKID", secretAccessKey: "SUPERSECRET", sessionToken: "TOKEN")
    #expect(!"\(creds)".contains("SUPERSECRET") && !"\(creds)".contains("TOKEN"))
    #expect(!String(reflecting: creds).contains("SUPERSECRET"))
  }
}
