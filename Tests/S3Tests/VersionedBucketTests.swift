import Foundation
import TestSupport
import Testing

@testable import S3

/// The client's versioning calls against real servers: SeaweedFS and moto (versioned), and
/// `rclone serve s3` (no versioning).
@Suite(.serialized) struct VersionedBucketTests {
  static func client(_ variable: String, versioned: Bool) throws -> S3Client? {
    guard let endpoint = ProcessInfo.processInfo.environment[variable] else {
      Issue.record("\(variable) is not set: run the tests with scripts/test")
      return nil
    }
    let s3 = S3Client(
      bucket: "v\(UUID().uuidString.prefix(8).lowercased())", endpoint: try S3Endpoint(url: endpoint, region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport())
    try s3.createBucket()
    if versioned { try s3.setBucketVersioning(enabled: true) }
    return s3
  }

  @Test(arguments: ["EDGEMOUNT_TEST_ENDPOINT", "EDGEMOUNT_MOTO_ENDPOINT"])
  func versionsPageByPageByIDAndWithTheirMetadata(variable: String) throws {
    guard let s3 = try Self.client(variable, versioned: true) else { return }
    #expect(try s3.bucketVersioning() == .enabled)
    var ids: [String] = []
    for i in 1...4 {
      let result = try s3.put(key: "D/config-01.09.json", body: Array("v\(i)".utf8), metadata: ["edited-by": "u\(i)@h p e/1"])
      ids.append(try #require(result.versionID))
    }
    let marker = try s3.deleteObject(key: "D/config-01.09.json").versionID
    #expect(marker != nil)
    try s3.putObject(key: "D/certs_server.p7b", body: [1, 2])
    try s3.putObject(key: "D/device.json", body: [3])
    let whole = try s3.listVersions(prefix: "D/c")
    #expect(whole.versions.count == 6, "\(whole.versions.map(\.key))")
    // Versions newest first; the delete marker is the latest. (moto lists the markers after the
    // versions, SeaweedFS and AWS among them by time: `.history` orders by time and IsLatest.)
    let config = whole.versions.filter { $0.key == "D/config-01.09.json" }
    #expect(config.filter { !$0.isDeleteMarker }.map(\.versionID) == ids.reversed())
    #expect(config.filter(\.isDeleteMarker).map(\.versionID) == [marker])
    #expect(config.filter(\.isLatest).map(\.versionID) == [marker])
    // Pages of two: the same entries, each once.
    let paged = try s3.listVersions(prefix: "D/c", maxKeys: 2)
    #expect(paged.versions.count == whole.versions.count)
    #expect(Set(paged.versions.map(\.versionID)) == Set(whole.versions.map(\.versionID)))
    #expect(paged.versions.filter { !$0.isDeleteMarker } == whole.versions.filter { !$0.isDeleteMarker })
    // Each version by id, with its own metadata.
    for (i, id) in ids.enumerated() {
      #expect(try s3.getWholeObject(key: "D/config-01.09.json", versionID: id).bytes == Array("v\(i + 1)".utf8))
      #expect(try s3.headObject(key: "D/config-01.09.json", versionID: id).metadata["edited-by"] == "u\(i + 1)@h p e/1")
    }
  }

  @Test func aBucketWithoutVersioningSaysOff() throws {
    guard let seaweed = try Self.client("EDGEMOUNT_TEST_ENDPOINT", versioned: false) else { return }
    #expect(try seaweed.bucketVersioning() == .off)
    #expect(try seaweed.put(key: "k", body: [1]).versionID == nil)
    guard let rclone = try Self.client("EDGEMOUNT_RCLONE_ENDPOINT", versioned: false) else { return }
    #expect([BucketVersioning.off, .unknown].contains(try rclone.bucketVersioning()))
  }
}
