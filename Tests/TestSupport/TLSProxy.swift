import Foundation

/// HTTPS in front of the test S3 server: a throw-away CA and a certificate for 127.0.0.1
/// (`scripts/make-test-ca`, as the test server's own TLS), and socat terminating TLS and
/// forwarding to SeaweedFS.
public final class TLSProxy: @unchecked Sendable {
  public let endpoint: String
  public let caFile: String
  private let directory: URL
  private let process: BackgroundProcess

  public init(port: Int) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID())")
    let d = directory.path
    let script = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("scripts/make-test-ca").path
    let made = try Command.shell("\(script) \(d) && cat \(d)/server.key \(d)/server.pem > \(d)/server-bundle.pem")
    guard made.status == 0 else { throw Command.SpawnFailed(description: "make-test-ca failed: \(made.stderr)") }
    let upstream = URL(string: try TestS3.endpointURL)!
    process = try BackgroundProcess([
      "/usr/bin/socat", "OPENSSL-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork,cert=\(d)/server-bundle.pem,verify=0",
      "TCP:127.0.0.1:\(upstream.port!)",
    ])
    endpoint = "https://127.0.0.1:\(port)"
    caFile = "\(d)/ca.pem"
    for _ in 0..<50 {
      if (try? Command.run(["curl", "-s", "-o", "/dev/null", "--cacert", caFile, endpoint]))?.status == 0 { return }
      Thread.sleep(forTimeInterval: 0.1)
    }
  }

  public func stop() {
    process.stop()
    try? FileManager.default.removeItem(at: directory)
  }

  deinit { stop() }
}
