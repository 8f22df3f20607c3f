import Foundation
import Locking
import S3

/// A SeaweedFS cluster of separate processes (`scripts/s3-cluster`: a master, three volume
/// servers with every object on two, a filer, two S3 gateways), started for one test and
/// stopped after it. With `host`, every process runs on that network host and listens on its
/// address.
///
/// Suites run at once, so each cluster of a test process takes a slot of its own: its ports
/// start at `EDGEMOUNT_CLUSTER_PORT_BASE` + 50 × slot. Two clusters on one address would
/// otherwise share each other's processes, and one test's kill or stop would reach the other's
/// store (scripts/s3-cluster now refuses ports in use, too).
public final class S3Cluster: @unchecked Sendable {
  public struct StartFailed: Error, CustomStringConvertible { public var description: String }

  private static let slots = Monitor<Set<Int>>([])
  private static let slotCount = 4

  public let dir: String
  public let endpoints: [String]
  /// The first of this cluster's ports; +20 is free for a proxy in front of it.
  public let portBase: Int
  private let slot: Int
  private let stopped = Locked(false)
  private let launcher: [String]
  private let script = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("scripts/s3-cluster").path

  public init(on hosts: NetworkHosts? = nil, host: String = "") throws {
    dir = try freshDirectory("cluster")
    let environment = ProcessInfo.processInfo.environment
    let base = Int(environment["EDGEMOUNT_CLUSTER_PORT_BASE"] ?? "") ?? 18700
    let free = Self.slots.withLockWaiting(until: Date().addingTimeInterval(900)) { used, timedOut -> Int? in
      guard let free = (0..<Self.slotCount).first(where: { !used.contains($0) }) else { return timedOut ? -1 : nil }
      used.insert(free)
      return free
    }
    guard let taken = free, taken >= 0 else { throw StartFailed(description: "s3-cluster: no free slot of ports") }
    slot = taken
    portBase = base + 50 * taken
    launcher =
      (hosts.map { $0.on(host) } ?? [])
      + ["/usr/bin/env", "EDGEMOUNT_CLUSTER_PORT_BASE=\(portBase)"]
      + (hosts.map { ["EDGEMOUNT_CLUSTER_IP=\($0.address(of: host))"] } ?? [])
    let r = try Command.run(launcher + [script, "start", dir])
    guard r.status == 0 else {
      _ = try? Command.run([script, "stop", dir])
      Self.slots.withLockNotifying { _ = $0.remove(taken) }
      throw StartFailed(description: "s3-cluster: \(r.stderr)")
    }
    let env = try String(contentsOfFile: dir + "/env", encoding: .utf8)
    let line = env.split(separator: "\n").first { $0.contains("EDGEMOUNT_CLUSTER_ENDPOINTS=") } ?? ""
    endpoints = line.split(separator: "=", maxSplits: 1).last.map { $0.split(separator: ",").map(String.init) } ?? []
  }

  public func kill(_ name: String) throws { _ = try Command.run([script, "kill", dir, name]) }
  public func restart(_ name: String) throws { _ = try Command.run(launcher + [script, "restart", dir, name]) }

  /// Stops every process, removes the cluster's data (2 GiB of preallocated volumes: left
  /// behind, a hundred test runs filled the disk) and gives the slot back; a second call does
  /// nothing.
  public func stop() {
    guard
      stopped.withLock({ was in
        defer { was = true }; return !was
      })
    else { return }
    _ = try? Command.run([script, "stop", dir])
    try? FileManager.default.removeItem(atPath: dir)
    Self.slots.withLockNotifying { _ = $0.remove(slot) }
  }
  deinit { stop() }

  /// A client of `bucket` through gateway `endpoint` (0 or 1).
  public func client(bucket: String, endpoint: Int = 0) throws -> S3Client {
    S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: endpoints[endpoint], region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport())
  }
}
