import Foundation
import S3

/// A SeaweedFS cluster of separate processes (`scripts/s3-cluster`: a master, three volume
/// servers with every object on two, a filer, two S3 gateways), started for one test and
/// stopped after it. With `host`, every process runs on that network host and listens on its
/// address.
public final class S3Cluster: @unchecked Sendable {
  public struct StartFailed: Error, CustomStringConvertible { public var description: String }

  public let dir: String
  public let endpoints: [String]
  private let launcher: [String]
  private let script = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("scripts/s3-cluster").path

  public init(on hosts: NetworkHosts? = nil, host: String = "") throws {
    dir = try freshDirectory("cluster")
    launcher =
      hosts.map { $0.on(host) + ["/usr/bin/env", "EDGEMOUNT_CLUSTER_IP=\($0.address(of: host))"] } ?? []
    let r = try Command.run(launcher + [script, "start", dir])
    guard r.status == 0 else { throw StartFailed(description: "s3-cluster: \(r.stderr)") }
    let env = try String(contentsOfFile: dir + "/env", encoding: .utf8)
    let line = env.split(separator: "\n").first { $0.contains("EDGEMOUNT_CLUSTER_ENDPOINTS=") } ?? ""
    endpoints = line.split(separator: "=", maxSplits: 1).last.map { $0.split(separator: ",").map(String.init) } ?? []
  }

  public func kill(_ name: String) throws { _ = try Command.run([script, "kill", dir, name]) }
  public func restart(_ name: String) throws { _ = try Command.run(launcher + [script, "restart", dir, name]) }
  public func stop() { _ = try? Command.run([script, "stop", dir]) }
  deinit { stop() }

  /// A client of `bucket` through gateway `endpoint` (0 or 1).
  public func client(bucket: String, endpoint: Int = 0) throws -> S3Client {
    S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: endpoints[endpoint], region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport())
  }
}
