import Foundation

/// `Tests/Support/aws_emulator.py` running beside a test: STS, IMDSv2, the container endpoint,
/// the SSO portal, and an S3 front on the test SeaweedFS that accepts only the credentials it
/// issued and that are valid now (plus a root key that never expires).
public final class AWSEmulator: @unchecked Sendable {
  public let s3Endpoint: String
  public let services: String
  public let rootKey = "AKIAROOT\(UUID().uuidString.prefix(8).uppercased())"
  public let rootSecret = "root-\(UUID().uuidString)"
  private let process: BackgroundProcess

  public init() throws {
    let upstream = try TestS3.credentials
    var environment = ProcessInfo.processInfo.environment
    environment["EMULATOR_UPSTREAM_SECRET"] = upstream.secretAccessKey
    environment["EMULATOR_ROOT_SECRET"] = rootSecret
    process = try BackgroundProcess(
      [
        "/usr/bin/env", "python3", Fixtures.directory.path + "/../Support/aws_emulator.py", "--s3-port", "0",
        "--services-port", "0", "--upstream", try TestS3.endpointURL, "--upstream-key", upstream.accessKeyID,
        "--root-key", rootKey,
      ], environment: environment)
    var ports: [Substring] = []
    for _ in 0..<100 {
      if let line = process.output.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) {
        ports = line.split(separator: " ").dropFirst().map { $0 }
        break
      }
      Thread.sleep(forTimeInterval: 0.1)
    }
    guard ports.count == 2 else { throw Command.SpawnFailed(description: "aws_emulator.py: \(process.output)") }
    s3Endpoint = "http://127.0.0.1:\(ports[0])"
    services = "http://127.0.0.1:\(ports[1])"
  }

  /// Changes the emulator's behaviour: `lifetime` of new credentials, `down`, clock `skew`.
  public func control(_ settings: [String: Any]) throws {
    let body = String(decoding: try JSONSerialization.data(withJSONObject: settings), as: UTF8.self)
    let r = try Command.run(["curl", "-sf", "-X", "POST", "--data-binary", body, services + "/_control"])
    guard r.status == 0 else { throw Command.SpawnFailed(description: "control: \(r.stderr)") }
  }

  /// Every secret, session token and IMDS token issued so far.
  public func issued() throws -> [String] {
    let r = try Command.run(["curl", "-sf", services + "/_issued"])
    return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String]) ?? []
  }

  /// Requests per service, and the S3 front's refusals by code (`s3_refused_ExpiredToken`).
  public func stats() throws -> [String: Int] {
    let r = try Command.run(["curl", "-sf", services + "/_stats"])
    return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Int]) ?? [:]
  }

  public func stop() { process.stop() }
  deinit { process.stop() }
}
