import Foundation
import S3
import TestSupport
import Testing

@testable import S3

/// Ranged GETs never return a byte from a wrong offset, however the server answers: 206,
/// 200 with a Content-Range (rclone's server), 200 with the whole object, a wrong
/// Content-Range, a short body. Checked on the in-memory S3, with every fault it can inject.
@Suite struct S3ClientRangeTests {
  let object: [UInt8] = (0..<6_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }

  func server(_ fault: InMemoryS3.Fault?) -> (InMemoryS3, S3Client) {
    let s = InMemoryS3()
    let c = s.client(bucket: "b", retryPolicy: RetryPolicy(maxAttempts: 1))
    s.put("b", "log.MF4", object)
    if let fault {
      let rule: @Sendable (String, String?) -> InMemoryS3.Fault? = { method, _ in method == "GET" ? fault : nil }
      s.faults.withLock { $0 = rule }
    }
    return (s, c)
  }

  let ranges: [Range<UInt64>] = [0..<100, 1_048_576..<2_097_152, 3_000_001..<3_000_017, 5_999_990..<6_000_000]

  @Test func rcloneStyle200WithAContentRangeIsTheRange() throws {
    let (_, client) = server(.rangeAs200)
    for r in ranges {
      #expect(try client.getObject(key: "log.MF4", range: r) == Array(object[Int(r.lowerBound)..<Int(r.upperBound)]))
      // Segmented and early-delivered, as the block cache reads.
      let segments = try client.getObject(
        key: "log.MF4", range: r, ifMatch: nil, segmentSize: 1 << 20, objectSize: UInt64(object.count))
      #expect(segments.flatMap { $0 } == Array(object[Int(r.lowerBound)..<Int(r.upperBound)]))
    }
  }

  @Test func aWholeObjectFor200IsSlicedOnlyWhenItsSizeIsKnown() throws {
    let (_, client) = server(.wholeBodyFor200)
    for r in ranges {
      let got = try client.getObject(key: "log.MF4", range: r, objectSize: UInt64(object.count))
      #expect(got == Array(object[Int(r.lowerBound)..<Int(r.upperBound)]))
    }
    // Without the size a mid-file range cannot be told apart from a partial body: an error.
    #expect(throws: S3Error.self) { try client.getObject(key: "log.MF4", range: 1000..<2000) }
    // From offset 0 the first bytes are right either way.
    #expect(try client.getObject(key: "log.MF4", range: 0..<10) == Array(object[0..<10]))
  }

  @Test func aWrongContentRangeOrAShortBodyIsAnErrorNeverData() {
    for fault in [InMemoryS3.Fault.wrongContentRange, .shortBody, .resetMidBody] {
      let (_, client) = server(fault)
      for r in ranges {
        #expect(throws: S3Error.self, "\(fault) \(r)") {
          try client.getObject(key: "log.MF4", range: r, objectSize: UInt64(object.count))
        }
      }
    }
  }

  @Test func aPartial200WithoutContentRangeFromTheMiddleIsRefused() {
    // What the old client sliced into wrong bytes: 200, the partial body, no Content-Range.
    let shape = S3Client.rangedBody(
      status: 200, contentRange: nil, contentLength: 1000, received: 1000, range: 5000..<6000, objectSize: 8192)
    #expect(
      shape
        == .failure(
          .invalidResponse("GET bytes 5000-5999: HTTP 200 with 1000 bytes, neither the range nor the whole 8192-byte object")))
    let unknown = S3Client.rangedBody(
      status: 200, contentRange: nil, contentLength: 1000, received: 1000, range: 5000..<6000, objectSize: nil)
    #expect(throws: S3Error.self) { try unknown.get() }
    // A Content-Range whose total disagrees with the listing: another version of the object.
    let total = S3Client.rangedBody(
      status: 206, contentRange: "bytes 0-9/99", contentLength: 10, received: 10, range: 0..<10, objectSize: 100)
    #expect(throws: S3Error.self) { try total.get() }
    // More than asked for.
    let more = S3Client.rangedBody(
      status: 206, contentRange: "bytes 0-19/100", contentLength: 20, received: 20, range: 0..<10, objectSize: 100)
    #expect(throws: S3Error.self) { try more.get() }
    #expect(
      S3Client.rangedBody(
        status: 206, contentRange: "bytes 90-99/100", contentLength: 10, received: 10, range: 90..<120, objectSize: 100)
        == .success(.range))
  }

  /// Random ranges under random reply shapes: every byte returned is the object's byte at
  /// that offset, or the call fails.
  @Test func randomRangesUnderEveryReplyShapeNeverGiveAWrongByte() {
    let faults: [InMemoryS3.Fault?] = [nil, .rangeAs200, .wholeBodyFor200, .wrongContentRange, .shortBody, .resetMidBody]
    var seed: UInt64 = 7
    func next() -> UInt64 {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return seed >> 11
    }
    var wrong = 0
    for _ in 0..<400 {
      let (_, client) = server(faults[Int(next() % UInt64(faults.count))])
      let start = next() % UInt64(object.count)
      let end = min(UInt64(object.count), start + 1 + next() % 3_000_000)
      let known: UInt64? = next() % 2 == 0 ? UInt64(object.count) : nil
      guard let got = try? client.getObject(key: "log.MF4", range: start..<end, objectSize: known) else { continue }
      if got != Array(object[Int(start)..<Int(start) + got.count]) || got.count != Int(end - start) { wrong += 1 }
    }
    #expect(wrong == 0)
  }
}

/// A bucket in another region than the one configured is found and used, as the AWS SDKs do.
@Suite struct S3ClientRegionTests {
  @Test(arguments: [false, true])
  func aBucketInAnotherRegionIsFoundAndKept(redirect: Bool) throws {
    let server = InMemoryS3()
    let client = server.client(bucket: "fleet", retryPolicy: RetryPolicy(maxAttempts: 1))
    server.put("fleet", "A1B2C3D4/device.json", Array("{}".utf8))
    server.bucketRegions.withLock { $0["fleet"] = "eu-central-1" }
    server.redirectForWrongRegion.withLock { $0 = redirect }
    #expect(client.endpoint.region == "us-east-1")
    #expect(try client.listAll(prefix: "", delimiter: "/").commonPrefixes == ["A1B2C3D4/"])
    #expect(client.endpoint.region == "eu-central-1")
    // Kept: later requests (and clients made from this one) are signed for it at once.
    let before = server.requestLog.count
    #expect(try client.getObject(key: "A1B2C3D4/device.json") == Array("{}".utf8))
    #expect(try client.with(retryPolicy: .none).getObject(key: "A1B2C3D4/device.json") == Array("{}".utf8))
    #expect(server.requestLog.count - before == 2, "a refused request was sent again")
  }

  @Test func anAWSRegionalEndpointFollowsTheRegion() throws {
    let client = S3Client(
      bucket: "fleet", endpoint: try S3Endpoint.aws(region: "us-east-1"),
      credentials: Credentials(accessKeyID: "AKID", secretAccessKey: "secret", source: "test"), transport: InMemoryS3())
    #expect(client.switchRegion(to: "ap-southeast-2"))
    #expect(client.endpoint.host == "s3.ap-southeast-2.amazonaws.com")
    #expect(!client.endpoint.pathStyle, "AWS is addressed virtual-hosted style")
    #expect(!client.switchRegion(to: "ap-southeast-2"), "the same region again changes nothing")
    #expect(!client.switchRegion(to: "bad region/../"))
  }
}
