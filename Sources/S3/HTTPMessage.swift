/// One HTTP request as the S3 client builds it.
public struct HTTPRequest: Sendable {
  public var method: String
  public var url: String
  public var headers: [(String, String)]
  public var body: [UInt8]
  /// A bound on this request alone, below the transport's own.
  public var timeout: Duration?

  public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration? = nil) {
    self.method = method
    self.url = url
    self.headers = headers
    self.body = body
    self.timeout = timeout
  }
}

/// One HTTP response; header names are lower-cased.
public struct HTTPResponse: Sendable {
  public var status: Int
  public var headers: [(String, String)]
  public var body: [UInt8]

  public init(status: Int, headers: [(String, String)], body: [UInt8]) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  public func header(_ name: String) -> String? {
    let lower = name.lowercased()
    return headers.last { $0.0 == lower }?.1
  }
}

/// Sends one request and waits for the whole response. Blocking: call it from a thread of
/// your own, never from Swift's cooperative pool.
public protocol HTTPTransport: Sendable {
  func perform(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse
}
