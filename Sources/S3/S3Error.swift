/// What went wrong talking to S3. Mapped to an errno in exactly one place (`FileSystem/ErrnoMapping`).
public enum S3Error: Error, Equatable, Sendable, CustomStringConvertible {
  /// The server answered with an error status (and usually an XML error body).
  case service(ServiceError)
  /// The request did not complete: connection refused or reset, timeout, TLS failure, short body.
  case transport(TransportError)
  /// The server answered something we could not understand (malformed XML, wrong length).
  case invalidResponse(String)
  /// No request was sent: there are no valid credentials to sign it with (they expired and
  /// the provider does not answer), with why.
  case credentials(String)

  public var description: String {
    switch self {
    case .service(let e): return e.description
    case .transport(let e): return e.description
    case .invalidResponse(let why): return "invalid response from S3: \(why)"
    case .credentials(let why): return why
    }
  }

  public var status: Int? { if case .service(let e) = self { return e.status } else { return nil } }
  public var code: String? { if case .service(let e) = self { return e.code } else { return nil } }
  public var isNotFound: Bool { status == 404 }
  public var isPreconditionFailed: Bool { status == 412 }
  /// Wrong key, wrong secret, skewed clock or missing permission.
  public var isAuthenticationFailure: Bool {
    if case .credentials = self { return true }
    guard case .service(let e) = self else { return false }
    return e.status == 403
      || [
        "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied",
        "RequestTimeTooSkewed", "ExpiredToken", "InvalidToken",
      ].contains(e.code)
  }
}

/// An S3 error response: HTTP status plus the fields of its XML body.
public struct ServiceError: Equatable, Sendable, CustomStringConvertible {
  public var status: Int
  public var code: String
  public var message: String
  public var requestID: String?
  public var resource: String?
  /// The bucket's region, when the answer names it (`x-amz-bucket-region`, or `<Region>` in a
  /// PermanentRedirect or AuthorizationHeaderMalformed body).
  public var region: String?
  /// The server's `Date` (seconds since 1970) on a 403: a clock skew shows there.
  public var serverTime: Int64?

  public init(
    status: Int, code: String, message: String, requestID: String? = nil, resource: String? = nil, region: String? = nil
  ) {
    self.status = status
    self.code = code
    self.message = message
    self.requestID = requestID
    self.resource = resource
    self.region = region
  }

  /// A refusal because the request went to (or was signed for) another region than the
  /// bucket's, with that region named.
  public var wrongRegion: String? {
    guard let region, !region.isEmpty,
      status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed"
        || code == "IllegalLocationConstraintException" || (status == 400 && code == "InvalidRequest")
    else { return nil }
    return region
  }

  public var description: String {
    var s = "S3 \(code) (HTTP \(status))"
    if !message.isEmpty { s += ": \(message)" }
    if let requestID { s += " [request id \(requestID)]" }
    return s
  }
}

/// A request that failed below HTTP.
public struct TransportError: Error, Equatable, Sendable, CustomStringConvertible {
  public enum Kind: Sendable, Equatable {
    case connect, timeout, reset, shortBody, tls, resolve, other
  }
  public var kind: Kind
  public var message: String

  public init(kind: Kind, message: String) {
    self.kind = kind
    self.message = message
  }

  public var description: String { message }
}
