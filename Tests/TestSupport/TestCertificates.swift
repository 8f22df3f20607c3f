import Foundation

/// Certificate bundles made the way users make them (`openssl crl2pkcs7 -nocrl -certfile`),
/// in a scratch folder.
public struct TestCertificates {
  public let directory: URL

  public init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("certs-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  public func remove() { try? FileManager.default.removeItem(at: directory) }

  /// `count` self-signed certificates valid for a year, in one PEM file.
  public func validCertificates(_ count: Int, name: String = "valid") throws -> String {
    let pem = directory.appendingPathComponent("\(name).pem").path
    var script = "set -e; cd \(directory.path); : > \(pem)\n"
    for i in 0..<count {
      script +=
        "openssl req -x509 -newkey rsa:1024 -nodes -keyout k\(i).key -out c\(i).pem -days 365 -subj /CN=s3-\(name)-\(i).example.com 2>/dev/null; cat c\(i).pem >> \(pem)\n"
    }
    let r = try Command.shell(script)
    guard r.status == 0 else { throw Command.SpawnFailed(description: r.stderr) }
    return pem
  }

  /// A certificate that expired in 2021, made with Python's cryptography package.
  public func expiredCertificate() throws -> String {
    try certificate(name: "old.example.com", file: "expired.pem", from: "2020, 1, 1", until: "2021, 1, 1")
  }

  /// A certificate that only becomes valid in 2030.
  public func futureCertificate() throws -> String {
    try certificate(name: "future.example.com", file: "future.pem", from: "2030, 1, 1", until: "2031, 1, 1")
  }

  private func certificate(name: String, file: String, from: String, until: String) throws -> String {
    let pem = directory.appendingPathComponent(file).path
    let script = """
      import datetime, sys
      from cryptography import x509
      from cryptography.hazmat.primitives import hashes, serialization
      from cryptography.hazmat.primitives.asymmetric import ec
      from cryptography.x509.oid import NameOID
      key = ec.generate_private_key(ec.SECP256R1())
      name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "\(name)")])
      cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(1).not_valid_before(datetime.datetime(\(from))).not_valid_after(datetime.datetime(\(until)))
          .sign(key, hashes.SHA256()))
      open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
      """
    let r = try Command.run(["python3", "-c", script, pem])
    guard r.status == 0 else { throw Command.SpawnFailed(description: r.stderr) }
    return pem
  }

  /// A PKCS#7 bundle of the certificates in `pem`, DER or PEM encoded.
  public func bundle(of pem: String, der: Bool, name: String) throws -> URL {
    let out = directory.appendingPathComponent(name)
    let r = try Command.run([
      "openssl", "crl2pkcs7", "-nocrl", "-certfile", pem, "-outform", der ? "DER" : "PEM", "-out", out.path,
    ])
    guard r.status == 0 else { throw Command.SpawnFailed(description: r.stderr) }
    return out
  }

  /// SHA-1 fingerprints (lower-case hex) of the certificates in `pem`, as openssl prints them.
  public func sha1s(of pem: String) throws -> [String] {
    let r = try Command.shell(
      "cd \(directory.path) && csplit -s -z -f part- \(pem) '/-----BEGIN/' '{*}' && for f in part-*; do openssl x509 -in $f -noout -fingerprint -sha1; done; rm -f part-*"
    )
    return r.stdout.split(separator: "\n").map {
      $0.split(separator: "=").last!.replacingOccurrences(of: ":", with: "").lowercased()
    }
  }
}
