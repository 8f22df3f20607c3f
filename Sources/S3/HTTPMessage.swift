/// One HTTP request as the S3 client builds it.
public struct HTTPRequest: Sendable {
  public var method: String
  public var url: String
  public var headers: [(String, String)]
  public var body: [UInt8]
  /// A bound on this request alone, below the transport's own.
  public var timeout: Duration?
  /// Receive a successful (2xx) body in arrays of this many bytes (the last may be shorter),
  /// so a GET of several cache blocks lands in the blocks with no copy afterwards.
  public var bodySegmentSize: Int?
  /// Given each full segment as soon as it has arrived, while the rest is still coming.
  public var segmentReceiver: (any SegmentReceiver)?

  public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration? = nil) {
    self.method = method
    self.url = url
    self.headers = headers
    self.body = body
    self.timeout = timeout
  }
}

/// Takes a segmented body segment by segment while it arrives, so a reader waiting for the
/// first block of a long GET need not wait for the last. Called on the thread performing the
/// request; a retried request delivers its segments again.
public protocol SegmentReceiver: AnyObject, Sendable {
  /// The status and headers (lower-cased names), before any segment. False: none is delivered
  /// early, and the caller takes them all from the response.
  func accept(status: Int, headers: [(String, String)]) -> Bool
  /// The bytes of segment `index` received so far, from its first, while it is incomplete;
  /// valid only during the call.
  func arrived(segment index: Int, _ bytes: UnsafeRawBufferPointer)
  /// Segment `index`, complete.
  func receive(segment index: Int, _ bytes: [UInt8])
}

/// One HTTP response; header names are lower-cased.
public struct HTTPResponse: Sendable {
  public var status: Int
  public var headers: [(String, String)]
  /// The body, unless it came in `segments`.
  public var body: [UInt8]
  /// The body in segments, when the request asked for them and the answer was a 2xx.
  public var segments: [[UInt8]]
  /// From the request sent to the first byte of the answer: one round trip plus the server's
  /// time, when the transport measured it (the link's round trip is the least of these).
  public var firstByteWait: Duration?
  /// Whether the request opened a connection of its own (TCP, and TLS over HTTPS) rather than
  /// reusing one; nil when the transport does not say.
  public var newConnection: Bool?
  /// The HTTP version the answer came in ("1.1", "2"); nil when the transport does not say.
  public var protocolVersion: String?

  public init(
    status: Int, headers: [(String, String)], body: [UInt8], segments: [[UInt8]] = [], firstByteWait: Duration? = nil
  ) {
    self.status = status
    self.headers = headers
    self.body = body
    self.segments = segments
    self.firstByteWait = firstByteWait
  }

  /// Bytes received, in `body` and `segments`.
  public var bodyCount: Int { segments.reduce(body.count) { $0 + $1.count } }

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
