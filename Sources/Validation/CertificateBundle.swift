import COpenSSL
import Foundation

/// A `certs_server.p7b`: a PKCS#7 bundle of server certificates (DER or PEM), parsed with
/// OpenSSL. An empty file is a valid bundle that clears the device's certificates.
public struct CertificateBundle: Sendable, Equatable {
  /// One certificate of the bundle.
  public struct Certificate: Sendable, Equatable {
    public var subject: String
    /// Seconds since 1970 (UTC).
    public var notAfter: Int64
    /// SHA-1 fingerprint, lower-case hex (as device.json's `certs_server_sha1`).
    public var sha1: String
  }

  public static let maxCertificates = 10

  public let certificates: [Certificate]

  public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
    case notPKCS7
    case noCertificates
    case tooMany(Int)
    case expired(subject: String, notAfter: Int64)

    public var description: String {
      switch self {
      case .notPKCS7:
        return
          "not a PKCS#7 certificate bundle (DER or PEM); make one with: openssl crl2pkcs7 -nocrl -certfile server.pem -outform DER -out certs_server.p7b"
      case .noCertificates: return "the PKCS#7 bundle holds no certificates"
      case .tooMany(let n): return "\(n) certificates; a device takes at most \(CertificateBundle.maxCertificates)"
      case .expired(let subject, let notAfter): return "certificate \(subject) expired on \(Self.date(notAfter))"
      }
    }

    static func date(_ epoch: Int64) -> String {
      let f = ISO8601DateFormatter()
      return f.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
    }
  }

  /// Parses a bundle. `now` decides expiry.
  public init(_ bytes: [UInt8], now: Date = Date()) throws(Problem) {
    if bytes.isEmpty {
      certificates = []
      return
    }
    guard let p7 = Self.parse(bytes) else { throw .notPKCS7 }
    defer { PKCS7_free(p7) }
    let stack = em_pkcs7_certificates(p7)
    let count = Int(em_x509_stack_count(stack))
    guard count > 0 else { throw .noCertificates }
    guard count <= Self.maxCertificates else { throw .tooMany(count) }
    var list: [Certificate] = []
    for i in 0..<count {
      guard let cert = em_x509_stack_item(stack, Int32(i)) else { throw .notPKCS7 }
      list.append(Self.describe(cert))
    }
    let nowEpoch = Int64(now.timeIntervalSince1970)
    if let old = list.first(where: { $0.notAfter < nowEpoch }) { throw .expired(subject: old.subject, notAfter: old.notAfter) }
    certificates = list
  }

  private static func parse(_ bytes: [UInt8]) -> UnsafeMutablePointer<PKCS7>? {
    var der: UnsafeMutablePointer<PKCS7>? = bytes.withUnsafeBufferPointer { buf -> UnsafeMutablePointer<PKCS7>? in
      var p: UnsafePointer<UInt8>? = buf.baseAddress
      return d2i_PKCS7(nil, &p, buf.count)
    }
    if der == nil {
      der = bytes.withUnsafeBufferPointer { buf -> UnsafeMutablePointer<PKCS7>? in
        guard let bio = BIO_new_mem_buf(buf.baseAddress, Int32(buf.count)) else { return nil }
        defer { BIO_free(bio) }
        return PEM_read_bio_PKCS7(bio, nil, nil, nil)
      }
    }
    ERR_clear_error()
    return der
  }

  private static func describe(_ cert: OpaquePointer) -> Certificate {
    var name = [CChar](repeating: 0, count: 512)
    X509_NAME_oneline(X509_get_subject_name(cert), &name, Int32(name.count))
    var parts = tm()
    var notAfter: Int64 = 0
    if let t = X509_get0_notAfter(cert), ASN1_TIME_to_tm(t, &parts) == 1 {
      notAfter = Int64(timegm(&parts))
    }
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    X509_digest(cert, EVP_sha1(), &digest, &length)
    let sha1 = digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    let subject = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return Certificate(subject: subject, notAfter: notAfter, sha1: sha1)
  }
}
