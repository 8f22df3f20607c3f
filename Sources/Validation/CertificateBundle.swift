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
    /// Seconds since 1970 (UTC): the certificate is not valid before this.
    public var notBefore: Int64 = 0
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
    case notYetValid(subject: String, notBefore: Int64, notAfter: Int64)

    public var description: String {
      switch self {
      case .notPKCS7:
        return
          "not a PKCS#7 certificate bundle (DER or PEM); make one with: openssl crl2pkcs7 -nocrl -certfile server.pem -outform DER -out certs_server.p7b"
      case .noCertificates: return "the PKCS#7 bundle holds no certificates"
      case .tooMany(let n): return "\(n) certificates; a device takes at most \(CertificateBundle.maxCertificates)"
      case .expired(let subject, let notAfter): return "certificate \(subject) expired on \(Self.date(notAfter))"
      case .notYetValid(let subject, let notBefore, let notAfter):
        return
          "certificate \(subject) is not valid yet: valid from \(Self.date(notBefore)) until \(Self.date(notAfter)); a device would refuse the server until then"
      }
    }

    static func date(_ epoch: Int64) -> String {
      let f = ISO8601DateFormatter()
      return f.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
    }
  }

  /// Parses a bundle. `now` decides expiry and "not yet valid"; without `checkingDates` the
  /// certificates are only listed (what is on the server, whatever its dates).
  public init(_ bytes: [UInt8], now: Date = Date(), checkingDates: Bool = true) throws(Problem) {
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
    if !checkingDates {
      certificates = list
      return
    }
    if let old = list.first(where: { $0.notAfter < nowEpoch }) { throw .expired(subject: old.subject, notAfter: old.notAfter) }
    if let early = list.first(where: { $0.notBefore > nowEpoch }) {
      throw .notYetValid(subject: early.subject, notBefore: early.notBefore, notAfter: early.notAfter)
    }
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
    var notBefore: Int64 = 0
    parts = tm()
    if let t = X509_get0_notBefore(cert), ASN1_TIME_to_tm(t, &parts) == 1 {
      notBefore = Int64(timegm(&parts))
    }
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    X509_digest(cert, EVP_sha1(), &digest, &length)
    let sha1 = digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    let subject = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return Certificate(subject: subject, notAfter: notAfter, notBefore: notBefore, sha1: sha1)
  }
}
