import DemoFleet
import Foundation
import S3

/// A fresh bucket filled with a `DemoFleet` built from the test fixtures.
public struct SeededFleet: Sendable {
  public let client: S3Client
  public let fleet: DemoFleet

  public init(_ label: String, options: DemoFleet.Options = DemoFleet.Options()) throws {
    client = try TestS3.freshBucket(label)
    fleet = try DemoFleet(fixtures: Fixtures.directory, options: options)
    try fleet.upload(to: client)
  }

  public var bucket: String { client.bucket }

  /// Every object's body by key.
  public var bodies: [String: [UInt8]] {
    Dictionary(fleet.objects.map { ($0.key, $0.body) }, uniquingKeysWith: { a, _ in a })
  }
}
