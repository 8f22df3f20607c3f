import Foundation
import S3

/// The local S3 server the integration tests use, as `scripts/test` describes it in the
/// environment (`EDGEMOUNT_TEST_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
public enum TestS3 {
  public struct NotConfigured: Error, CustomStringConvertible {
    public var description: String {
      "EDGEMOUNT_TEST_ENDPOINT and AWS credentials are not set: run the tests with scripts/test, which starts SeaweedFS"
    }
  }

  public static var endpointURL: String {
    get throws {
      guard let e = ProcessInfo.processInfo.environment["EDGEMOUNT_TEST_ENDPOINT"] else { throw NotConfigured() }; return e
    }
  }

  /// The same server over its own HTTPS (`EDGEMOUNT_TEST_ENDPOINT_HTTPS`), and the CA that
  /// signed its certificate (`EDGEMOUNT_TEST_CA`), as `scripts/test` starts it.
  public static var https: (endpoint: String, caFile: String) {
    get throws {
      let env = ProcessInfo.processInfo.environment
      guard let e = env["EDGEMOUNT_TEST_ENDPOINT_HTTPS"], let ca = env["EDGEMOUNT_TEST_CA"] else { throw NotConfigured() }
      return (e, ca)
    }
  }

  public static var credentials: Credentials {
    get throws {
      let env = ProcessInfo.processInfo.environment
      guard let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"] else { throw NotConfigured() }
      return Credentials(accessKeyID: id, secretAccessKey: secret, source: "test environment")
    }
  }

  /// A client for `bucket` on the test server.
  public static func client(bucket: String, credentials: Credentials? = nil, retryPolicy: RetryPolicy = RetryPolicy())
    throws -> S3Client
  {
    S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: endpointURL, region: "us-east-1"),
      credentials: try credentials ?? Self.credentials, transport: CurlTransport(), retryPolicy: retryPolicy)
  }

  /// A new, empty bucket with a unique name.
  public static func freshBucket(_ label: String) throws -> S3Client {
    let name = "t-\(label.lowercased().filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8).lowercased())"
    let client = try client(bucket: String(name.prefix(63)))
    try client.createBucket()
    return client
  }
}

/// Files under `Tests/Fixtures/`, found from this source file's location.
public enum Fixtures {
  public static let directory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

  public static func url(_ relativePath: String) -> URL { directory.appendingPathComponent(relativePath) }

  public static func bytes(_ relativePath: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url(relativePath)))
  }
}
