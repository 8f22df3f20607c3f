import S3
import Testing

@Suite struct S3EndpointTests {
  @Test func parsesHostPortAndDefaultsToPathStyleOffAWS() throws {
    let e = try S3Endpoint(url: "http://127.0.0.1:18300/", region: "us-east-1")
    #expect(e.host == "127.0.0.1" && e.port == 18300 && e.pathStyle && e.scheme == "http")
    let aws = try S3Endpoint(url: "https://s3.eu-west-1.amazonaws.com", region: "eu-west-1")
    #expect(!aws.pathStyle && aws.port == nil)
  }

  @Test(arguments: ["127.0.0.1:9000", "ftp://x", "http://user:pw@host", "http://h:99999", "http://h/path", "http://"])
  func rejectsBadEndpoints(url: String) {
    #expect(throws: S3Endpoint.InvalidURL.self) { try S3Endpoint(url: url, region: "r") }
  }

  @Test func credentialsInURLAreNotEchoed() {
    let e = #expect(throws: S3Endpoint.InvalidURL.self) { try S3Endpoint(url: "http://AKID:topsecret@host", region: "r") }
    #expect(e?.description.contains("topsecret") == false)
  }
}
