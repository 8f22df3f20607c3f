import Foundation
import S3
import TestSupport
import Testing

/// HTTPS: verification is on by default; a private CA is trusted only through `--ca-file`.
@Suite(.serialized) struct TLSTests {
  @Test func privateCAIsTrustedOnlyWhenGiven() throws {
    let proxy = try TLSProxy(port: 18_977)
    defer { proxy.stop() }
    let bucket = try TestS3.freshBucket("tls")
    try bucket.putObject(key: "A1B2C3D4/device.json", body: Array("{}".utf8))
    let endpoint = try S3Endpoint(url: proxy.endpoint, region: "us-east-1")

    var trusted = TransportOptions()
    trusted.caFile = proxy.caFile
    let good = S3Client(
      bucket: bucket.bucket, endpoint: endpoint, credentials: try TestS3.credentials, transport: CurlTransport(options: trusted))
    #expect(try good.getObject(key: "A1B2C3D4/device.json") == Array("{}".utf8))

    let untrusted = S3Client(
      bucket: bucket.bucket, endpoint: endpoint, credentials: try TestS3.credentials, transport: CurlTransport(),
      retryPolicy: .none)
    let error = #expect(throws: S3Error.self) { try untrusted.checkAccess() }
    guard case .transport(let t)? = error else {
      Issue.record("expected a TLS failure, got \(String(describing: error))"); return
    }
    #expect(t.kind == .tls)
  }
}
