import Foundation

/// HTTPS in front of the test S3 server: a throw-away CA and a certificate for 127.0.0.1
/// (made with openssl), and socat terminating TLS and forwarding to SeaweedFS.
public final class TLSProxy: @unchecked Sendable {
  public let endpoint: String
  public let caFile: String
  private let directory: URL
  private let process: BackgroundProcess

  public init(port: Int) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let d = directory.path
    let script = """
      set -e
      cd \(d)
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=EdgeMount-Test-CA 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
      cat server.key server.pem > server-bundle.pem
      """
    let made = try Command.shell(script)
    guard made.status == 0 else { throw Command.SpawnFailed(description: "openssl failed: \(made.stderr)") }
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
