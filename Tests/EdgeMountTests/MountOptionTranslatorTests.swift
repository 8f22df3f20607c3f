import EdgeMount
import Testing

@Suite struct MountOptionTranslatorTests {
  @Test func expandsDashOIntoLongOptionsWithDashesOrUnderscores() throws {
    let out = try MountOptionTranslator.expand([
      "fleet", "/mnt/fleet", "-o",
      "endpoint=http://h:9000,list_ttl=5,heartbeat-ttl=3,ca_file=/ca.pem,allow_other,ro,list_page_size=1000,config_mode=0640,shared_index",
    ])
    #expect(
      out == [
        "fleet", "/mnt/fleet", "--endpoint", "http://h:9000", "--list-ttl", "5", "--heartbeat-ttl", "3", "--ca-file", "/ca.pem",
        "--allow-other", "--read-only", "--list-page-size", "1000", "--config-mode", "0640", "--shared-index",
      ])
  }

  /// The gateways of one store as a comma list in `-o endpoint=`: each URL after the first is
  /// another `--endpoint`, and the options after them are options again.
  @Test func anEndpointListInDashOIsSeveralEndpoints() throws {
    let out = try MountOptionTranslator.expand([
      "fleet", "/mnt/fleet", "-o", "endpoint=http://a:8333,http://b:8333,https://c:443,list_ttl=5",
    ])
    #expect(
      out == [
        "fleet", "/mnt/fleet", "--endpoint", "http://a:8333", "--endpoint", "http://b:8333", "--endpoint", "https://c:443",
        "--list-ttl", "5",
      ])
    #expect(throws: MountOptionTranslator.Refusal.self) {
      try MountOptionTranslator.expand(["fleet", "/mnt", "-o", "list_ttl=5,http://b:8333"])
    }
  }

  @Test func acceptsTheGenericMountOptions() throws {
    let out = try MountOptionTranslator.expand(["b", "/m", "-o", "rw,dev,nodev,suid,nosuid,exec,noexec,_netdev,defaults"])
    #expect(out == ["b", "/m"])
    #expect(try MountOptionTranslator.expand(["b", "/m", "-oro"]) == ["b", "/m", "--read-only"])
  }

  @Test(arguments: ["secret=x", "aws_secret_access_key=x", "session_token=x", "password=x", "access_key_id=x"])
  func refusesOptionsCarryingSecrets(option: String) {
    let error = #expect(throws: MountOptionTranslator.Refusal.self) {
      try MountOptionTranslator.expand(["b", "/m", "-o", option])
    }
    #expect(error?.description.contains("=x") == false)
    #expect(error?.description.contains("secret") == true)
  }

  @Test func refusesSecretLongFlagsToo() {
    #expect(throws: MountOptionTranslator.Refusal.self) {
      try MountOptionTranslator.expand(["b", "/m", "--secret-access-key", "x"])
    }
  }

  @Test func unknownOrIncompleteOptionsAreNamed() {
    let unknown = #expect(throws: MountOptionTranslator.Refusal.self) { try MountOptionTranslator.expand(["-o", "colour=red"]) }
    #expect(unknown?.description == "unknown mount option 'colour'")
    let bare = #expect(throws: MountOptionTranslator.Refusal.self) { try MountOptionTranslator.expand(["-o", "endpoint"]) }
    #expect(bare?.description.contains("needs a value") == true)
  }
}

@Suite struct BucketLocationTests {
  @Test func parsesPlainAndS3URLForms() throws {
    #expect(try BucketLocation("fleet") == BucketLocation("s3://fleet"))
    let withPrefix = try BucketLocation("s3://my.fleet-1/site/a/")
    #expect(withPrefix.bucket == "my.fleet-1" && withPrefix.prefix == "site/a/")
    #expect(try BucketLocation("s3://fleet/x").prefix == "x/")
  }

  @Test(arguments: ["", "ab", "Fleet", "fleet_1", "-fleet", String(repeating: "a", count: 64), "s3://"])
  func rejectsInvalidBucketNames(text: String) {
    #expect(throws: BucketLocation.Invalid.self) { try BucketLocation(text) }
  }
}
