import Foundation
import S3
import TestSupport
import Testing

/// Against the real SeaweedFS started by `scripts/test`, with SigV4 enforced.
@Suite(.serialized) struct S3ClientTests {
  @Test func listsTwoThousandFiveHundredKeysThroughPagination() throws {
    let s3 = try TestS3.freshBucket("paging")
    let keys = (0..<2500).map { String(format: "DEV00001/00000001/%08d-5E0BE100.MF4", $0) }
    try parallelPut(s3, keys: keys)
    try s3.putObject(key: "DEV00001/device.json", body: Array("{}".utf8))
    let before = s3.counters.snapshot.list
    let all = try s3.listAll(prefix: "DEV00001/00000001/", delimiter: nil, maxKeys: 1000)
    #expect(all.objects.map(\.key) == keys)
    #expect(s3.counters.snapshot.list - before == 3)
    #expect(all.objects.allSatisfy { $0.size == UInt64($0.key.utf8.count) && $0.etag.count == 32 })
    // SeaweedFS answers the client's bigger default page in one request.
    let big = try s3.listAll(prefix: "DEV00001/00000001/", delimiter: nil)
    #expect(big.objects.map(\.key) == keys)
    #expect(s3.counters.snapshot.list - before == 4)
  }

  @Test func aServerThatRefusesBigPagesIsAskedForOneThousandKeys() throws {
    let bucket = try TestS3.freshBucket("pagesize")
    let keys = (0..<1500).map { String(format: "DEV00001/00000001/%08d-5E0BE100.MF4", $0) }
    try parallelPut(bucket, keys: keys)
    let proxy = try FaultProxy(port: 18_979, lifetime: 60)
    defer { proxy.stop() }
    try proxy.limitListingPages(to: 1000)
    let s3 = S3Client(
      bucket: bucket.bucket, endpoint: try S3Endpoint(url: proxy.endpoint, region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport())
    #expect(try s3.listAll(prefix: "DEV00001/", delimiter: nil).objects.map(\.key) == keys)
    // One refused page, then two of 1,000; the next listing asks for 1,000 at once.
    #expect(s3.counters.snapshot.list == 3)
    #expect(try s3.listAll(prefix: "DEV00001/", delimiter: nil).objects.count == 1500)
    #expect(s3.counters.snapshot.list == 5)
  }

  @Test func aRangedGetArrivesInSegmentsOfTheSizeAsked() throws {
    let s3 = try TestS3.freshBucket("segments")
    let body = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 11) }
    try s3.putObject(key: "big", body: body)
    let mib = 1 << 20
    let segments = try s3.getObject(key: "big", range: 1_048_576..<3_000_000, ifMatch: nil, segmentSize: mib)
    #expect(segments.map(\.count) == [mib, 3_000_000 - 2 * mib])
    #expect(Array(segments.joined()) == Array(body[1_048_576...]))
    let whole = try s3.getObject(key: "big", range: nil, ifMatch: nil, segmentSize: mib)
    #expect(whole.map(\.count) == [mib, mib, 3_000_000 - 2 * mib])
    // An error body is not split: the 412 still reads as PreconditionFailed.
    let error = #expect(throws: S3Error.self) {
      try s3.getObject(key: "big", range: 0..<10, ifMatch: "0123456789abcdef0123456789abcdef", segmentSize: mib)
    }
    #expect(error?.isPreconditionFailed == true)
  }

  @Test func fullSegmentsAreHandedOverBeforeTheGetEnds() throws {
    let s3 = try TestS3.freshBucket("early")
    let body = (0..<3_500_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 13) }
    try s3.putObject(key: "big", body: body)
    let receiver = SegmentLog()
    let mib = 1 << 20
    let segments = try s3.getObject(key: "big", range: 500_000..<3_500_000, ifMatch: nil, segmentSize: mib, receiver: receiver)
    #expect(segments.map(\.count) == [mib, mib, 3_000_000 - 2 * mib])
    // The full segments came through the receiver, in order, with the bytes of their offsets.
    #expect(receiver.received.map(\.0) == [0, 1])
    for (index, bytes) in receiver.received {
      #expect(bytes == Array(body[500_000 + index * mib..<500_000 + (index + 1) * mib]))
    }
    // Before each segment was whole, its bytes so far came too: the transport reads at most
    // 512 KiB at a time, so every segment of more arrived in parts, each at its offset.
    #expect(Set(receiver.arrivals.map(\.index)) == [0, 1, 2])
    for arrival in receiver.arrivals {
      let end = 500_000 + arrival.index * mib + arrival.count
      #expect(arrival.count < mib && arrival.tail == Array(body[end - arrival.tail.count..<end]))
    }
    // A refused GET (412) hands over nothing.
    let refused = SegmentLog()
    #expect(throws: S3Error.self) {
      try s3.getObject(
        key: "big", range: 0..<3_000_000, ifMatch: "0123456789abcdef0123456789abcdef", segmentSize: mib, receiver: refused)
    }
    #expect(refused.received.isEmpty && refused.arrivals.isEmpty && !refused.accepted)
  }

  /// Over TLS the transport speaks HTTP/1.1, as AWS S3 does, even to a server that offers
  /// HTTP/2 (SeaweedFS's TLS does): each GET on a connection of its own, not in frames of 16 KiB.
  @Test func overTLSTheTransportSpeaksHTTP11() throws {
    let https = try TestS3.https
    var options = TransportOptions()
    options.caFile = https.caFile
    let transport = CurlTransport(options: options)
    let response = try transport.perform(HTTPRequest(method: "GET", url: https.endpoint + "/"))
    #expect(response.protocolVersion == "1.1", "status \(response.status)")
    // The same server over plain HTTP, for comparison: 1.1 as ever.
    let plain = try CurlTransport().perform(HTTPRequest(method: "GET", url: try TestS3.endpointURL + "/"))
    #expect(plain.protocolVersion == "1.1")
  }

  @Test func delimiterListingReturnsCommonPrefixes() throws {
    let s3 = try TestS3.freshBucket("delim")
    for key in [
      "A1B2C3D4/00000001/00000001-5E0BE100.MF4", "A1B2C3D4/00000002/00000001-5E0BE100.MF4",
      "A1B2C3D4/device.json", "B1B2C3D4/00000001/00000001-5E0BE100.MF4", "aggregations/x.csv", "top.txt",
    ] {
      try s3.putObject(key: key, body: Array(key.utf8))
    }
    let root = try s3.listAll(prefix: "", delimiter: "/")
    #expect(root.commonPrefixes.sorted() == ["A1B2C3D4/", "B1B2C3D4/", "aggregations/"])
    #expect(root.objects.map(\.key) == ["top.txt"])
    let device = try s3.listAll(prefix: "A1B2C3D4/", delimiter: "/")
    #expect(device.commonPrefixes.sorted() == ["A1B2C3D4/00000001/", "A1B2C3D4/00000002/"])
    #expect(device.objects.map(\.key) == ["A1B2C3D4/device.json"])
  }

  @Test func rangedGetReturnsExactlyTheBytesAsked() throws {
    let s3 = try TestS3.freshBucket("range")
    let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
    try s3.putObject(key: "obj", body: data)
    for range: Range<UInt64> in [0..<10, 1..<2, 4095..<4097, 131_071..<200_001, 299_990..<300_000, 0..<300_000] {
      #expect(try s3.getObject(key: "obj", range: range) == Array(data[Int(range.lowerBound)..<Int(range.upperBound)]))
    }
    // A range running past the end is cut at the end, as S3 does.
    #expect(try s3.getObject(key: "obj", range: 299_995..<400_000) == Array(data[299_995...]))
    #expect(try s3.getObject(key: "obj") == data)
  }

  @Test func keysWithSpacesPlusUnicodeAndTildeRoundTrip() throws {
    let s3 = try TestS3.freshBucket("keys")
    let keys = ["dir/a b.txt", "dir/a+b.txt", "dir/ünï cødé 日本.txt", "dir/~tilde~", "dir/percent%20.txt", "dir/q?=&.txt"]
    for key in keys { try s3.putObject(key: key, body: Array(key.utf8)) }
    #expect(try s3.listAll(prefix: "dir/", delimiter: "/").objects.map(\.key).sorted() == keys.sorted())
    for key in keys { #expect(try s3.getObject(key: key) == Array(key.utf8)) }
  }

  @Test func headReturnsTheMetadataWritten() throws {
    let s3 = try TestS3.freshBucket("head")
    let meta = ["hw": "00.02", "fw": "01.07.02", "net": "wifi-fleet", "timestamp": "20200101T000000Z", "put-index": "42"]
    let etag = try s3.putObject(key: "D/1/00000001-5E0BE100.MF4", body: [1, 2, 3], metadata: meta)
    let head = try s3.headObject(key: "D/1/00000001-5E0BE100.MF4")
    #expect(head.metadata == meta)
    #expect(head.size == 3 && head.etag == etag && head.lastModified > 1_700_000_000)
    let missing = #expect(throws: S3Error.self) { try s3.headObject(key: "nope") }
    #expect(missing?.isNotFound == true)
  }

  @Test func conditionalPutFailsWith412WhenTheETagIsStale() throws {
    let s3 = try TestS3.freshBucket("cond")
    let first = try s3.putObject(key: "config-01.09.json", body: Array("{\"a\":1}".utf8))
    let second = try s3.putObject(key: "config-01.09.json", body: Array("{\"a\":2}".utf8), condition: .ifMatch(first))
    let stale = #expect(throws: S3Error.self) {
      try s3.putObject(key: "config-01.09.json", body: Array("{\"a\":3}".utf8), condition: .ifMatch(first))
    }
    #expect(stale?.isPreconditionFailed == true)
    #expect(try s3.getObject(key: "config-01.09.json") == Array("{\"a\":2}".utf8))
    let exists = #expect(throws: S3Error.self) {
      try s3.putObject(key: "config-01.09.json", body: [0], condition: .ifNoneMatch)
    }
    #expect(exists?.isPreconditionFailed == true)
    #expect(try s3.headObject(key: "config-01.09.json").etag == second)
    let staleGet = #expect(throws: S3Error.self) { try s3.getObject(key: "config-01.09.json", range: 0..<2, ifMatch: first) }
    #expect(staleGet?.isPreconditionFailed == true)
  }

  @Test func deleteRemovesTheObject() throws {
    let s3 = try TestS3.freshBucket("delete")
    try s3.putObject(key: "x", body: [1])
    try s3.deleteObject(key: "x")
    #expect(try s3.listAll(prefix: "", delimiter: nil).objects.isEmpty)
  }

  @Test func wrongSecretIsATypedAuthenticationError() throws {
    let good = try TestS3.credentials
    let bad = Credentials(accessKeyID: good.accessKeyID, secretAccessKey: "wrong-\(UUID())")
    let s3 = try TestS3.client(bucket: "fleet", credentials: bad)
    let error = #expect(throws: S3Error.self) { try s3.checkAccess() }
    #expect(error?.isAuthenticationFailure == true)
    #expect(error?.code == "SignatureDoesNotMatch")
    #expect(error.map { "\($0)" }?.contains(bad.secretAccessKey) == false)
    #expect(s3.counters.snapshot.retries == 0)
  }

  @Test func missingBucketIsNoSuchBucket() throws {
    let s3 = try TestS3.client(bucket: "no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())")
    let error = #expect(throws: S3Error.self) { try s3.checkAccess() }
    #expect(error?.code == "NoSuchBucket")
  }

  @Test func unreachableEndpointFailsAfterBoundedRetries() throws {
    let s3 = S3Client(
      bucket: "b", endpoint: try S3Endpoint(url: "http://127.0.0.1:1", region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport(),
      retryPolicy: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10)))
    let error = #expect(throws: S3Error.self) { try s3.checkAccess() }
    guard case .transport(let t) = error else {
      Issue.record("expected a transport error, got \(String(describing: error))"); return
    }
    #expect(t.kind == .connect)
    #expect(s3.counters.snapshot.retries == 2)
  }

  private func parallelPut(_ s3: S3Client, keys: [String]) throws {
    let failures = FailureBox()
    DispatchQueue.concurrentPerform(iterations: 8) { worker in
      for key in keys.enumerated().filter({ $0.offset % 8 == worker }).map(\.element) {
        do { try s3.putObject(key: key, body: Array(key.utf8)) } catch { failures.add("\(error)") }
      }
    }
    if let first = failures.first { throw S3Error.invalidResponse(first) }
  }
}

final class FailureBox: @unchecked Sendable {
  private let lock = NSLock()
  private var errors: [String] = []
  func add(_ e: String) { lock.withLock { errors.append(e) } }
  var first: String? { lock.withLock { errors.first } }
}

/// Records what a segmented GET hands over early.
private final class SegmentLog: SegmentReceiver, @unchecked Sendable {
  var accepted = false
  var received: [(Int, [UInt8])] = []
  func accept(status: Int, headers: [(String, String)]) -> Bool {
    accepted = true
    return true
  }
  /// Each partial arrival: the segment, its bytes so far, and their last 64 bytes.
  var arrivals: [(index: Int, count: Int, tail: [UInt8])] = []
  func arrived(segment index: Int, _ bytes: UnsafeRawBufferPointer) {
    arrivals.append((index, bytes.count, Array(bytes.suffix(64))))
  }
  func receive(segment index: Int, _ bytes: [UInt8]) { received.append((index, bytes)) }
}
