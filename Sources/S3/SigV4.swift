import Digest
import Foundation

/// AWS Signature Version 4 (header authentication) for one request.
///
/// The canonical request follows the S3 rules: the path is URI-encoded once (S3 does not
/// double-encode), query names and values are encoded and sorted, header values trimmed with
/// inner runs of spaces folded, and every header passed in is signed.
public struct SigV4: Sendable {
  public let credentials: Credentials
  public let region: String
  public let service: String
  /// Whether the signer adds and signs `x-amz-content-sha256`. S3 requires it; the generic
  /// SigV4 services (and AWS's SigV4 test suite) do not send it.
  public let signsContentHash: Bool

  public init(credentials: Credentials, region: String, service: String = "s3", signsContentHash: Bool? = nil) {
    self.credentials = credentials
    self.region = region
    self.service = service
    self.signsContentHash = signsContentHash ?? (service == "s3")
  }

  /// The hash S3 accepts in `x-amz-content-sha256` for an empty body.
  public static let emptyPayloadHash = Digest.hex(Digest.sha256([UInt8]()))

  /// The pieces of a signature, kept apart so tests can check each step against published vectors.
  public struct Signature: Sendable {
    public let canonicalRequest: String
    public let stringToSign: String
    public let signature: String
    public let authorization: String
    /// Headers to add to the request: `x-amz-date`, `x-amz-content-sha256`, the token, `Authorization`.
    public let headers: [(String, String)]
  }

  /// Signs a request. `path` is the already-encoded path (`/bucket/key%20name`); `query` holds
  /// raw (unencoded) names and values; `headers` must include `host`.
  public func sign(
    method: String, path: String, query: [(String, String)], headers: [(String, String)],
    payloadHash: String, date: Date
  ) -> Signature {
    let amzDate = Self.amzDate(date)
    let day = String(amzDate.prefix(8))
    var all = headers.map { ($0.0.lowercased(), Self.normalizeHeaderValue($0.1)) }
    all.append(("x-amz-date", amzDate))
    if signsContentHash { all.append(("x-amz-content-sha256", payloadHash)) }
    if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
    // Headers with the same name are joined with commas, as HTTP allows.
    var merged: [String: String] = [:]
    for (name, value) in all { merged[name] = merged[name].map { $0 + "," + value } ?? value }
    let names = merged.keys.sorted()
    let canonicalHeaders = names.map { "\($0):\(merged[$0]!)\n" }.joined()
    let signedHeaders = names.joined(separator: ";")
    let encodedQuery: [(name: String, value: String)] = query.map {
      (URIEncoding.encode($0.0), URIEncoding.encode($0.1))
    }
    let sortedQuery = encodedQuery.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
    let canonicalQuery = sortedQuery.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    let canonicalRequest = [
      method, path.isEmpty ? "/" : path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash,
    ].joined(separator: "\n")
    let scope = "\(day)/\(region)/\(service)/aws4_request"
    let stringToSign = [
      "AWS4-HMAC-SHA256", amzDate, scope, Digest.hex(Digest.sha256(canonicalRequest)),
    ].joined(separator: "\n")
    var key = Digest.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), message: Array(day.utf8))
    for part in [region, service, "aws4_request"] {
      key = Digest.hmacSHA256(key: key, message: Array(part.utf8))
    }
    let signature = Digest.hex(Digest.hmacSHA256(key: key, message: Array(stringToSign.utf8)))
    let authorization =
      "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    var added: [(String, String)] = [("x-amz-date", amzDate)]
    if signsContentHash { added.append(("x-amz-content-sha256", payloadHash)) }
    if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
    added.append(("Authorization", authorization))
    return Signature(
      canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
      authorization: authorization, headers: added)
  }

  static func amzDate(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970)
    var parts = tm()
    gmtime_r(&t, &parts)
    return String(
      format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
  }

  /// SigV4's header value rule: trim, and fold every run of spaces, tabs and line breaks into
  /// one space.
  static func normalizeHeaderValue(_ value: String) -> String {
    value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
      .joined(separator: " ")
  }
}
