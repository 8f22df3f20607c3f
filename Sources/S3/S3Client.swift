import Digest
import Foundation
import Locking
import Logging

/// A blocking S3 client for one bucket: SigV4-signed requests over libcurl, with retries.
///
/// Every call blocks its thread until the answer is in; call it from FUSE worker threads or
/// threads of your own, never from Swift's cooperative pool.
public final class S3Client: Sendable {
  public let bucket: String
  /// Where the bucket is reached; its region may change once, when S3 names the bucket's own.
  public var endpoint: S3Endpoint { location.withLock { $0 } }
  private let location: Locked<S3Endpoint>
  /// Every endpoint of the store (`--endpoint` given more than once) and each one's health.
  public let endpoints: EndpointPool
  /// Throttling answers (503 SlowDown, 429) slow every request of the mount down, not just the
  /// one that got it.
  let throttle: Throttle
  /// How far throttling answers have slowed the mount down (0: not at all).
  public var throttleLevel: Int { throttle.level }
  public let retryPolicy: RetryPolicy
  public let counters: RequestCounters
  /// The measured round trip to the store, shared by every client made from this one.
  public let roundTrip: RoundTripEstimate
  /// When S3 last failed to answer at all (all retries spent on network errors). For a short
  /// while after that, requests make one quick attempt instead of the full retry budget, so a
  /// frozen or unreachable server costs every caller seconds, not minutes.
  private let unreachableSince = Locked<ContinuousClock.Instant?>(nil)
  public static let quickFailWindow: Duration = .seconds(10)
  /// A bound on each request of this client (nil: the transport's own timeouts).
  public let requestTimeout: Duration?
  /// Keys asked for per ListObjectsV2 page. S3 returns at most 1,000 a page whatever is asked;
  /// compatible servers that allow more (SeaweedFS) then list a big folder in fewer requests.
  /// A server that refuses a size above 1,000 (400) is asked for 1,000 from then on.
  private let pageSize: Locked<Int>
  public static let preferredPageSize = 10_000
  /// The credentials requests are signed with, refreshed before they expire.
  public let credentials: RefreshingCredentials
  /// The server's clock minus this machine's, in seconds, once a refusal showed they differ by
  /// more than 5 minutes (RequestTimeTooSkewed): requests are signed at the server's time, as
  /// the AWS SDKs do. Shared by every client made from this one.
  private let clockOffset: Locked<TimeInterval>
  public var clockOffsetSeconds: TimeInterval { clockOffset.withLock { $0 } }
  static let skewTolerance: TimeInterval = 300
  private let transport: any HTTPTransport
  private let logger: Logger
  /// Time for signing, retries' back-off and the quick-fail window.
  let clock: any MountClock

  public convenience init(
    bucket: String, endpoint: S3Endpoint, credentials: Credentials, transport: any HTTPTransport,
    retryPolicy: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "edgemount.s3"),
    requestTimeout: Duration? = nil, counters: RequestCounters = RequestCounters(), listPageSize: Int = preferredPageSize,
    clock: any MountClock = SystemClock()
  ) {
    self.init(
      bucket: bucket, endpoint: endpoint, credentials: RefreshingCredentials(credentials), transport: transport,
      retryPolicy: retryPolicy, logger: logger, requestTimeout: requestTimeout, counters: counters,
      listPageSize: listPageSize, clock: clock)
  }

  public convenience init(
    bucket: String, endpoint: S3Endpoint, credentials: RefreshingCredentials, transport: any HTTPTransport,
    retryPolicy: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "edgemount.s3"),
    requestTimeout: Duration? = nil, counters: RequestCounters = RequestCounters(), listPageSize: Int = preferredPageSize,
    clock: any MountClock = SystemClock(), moreEndpoints: [S3Endpoint] = []
  ) {
    self.init(
      bucket: bucket, endpoint: endpoint, credentials: credentials, transport: transport, retryPolicy: retryPolicy,
      logger: logger, requestTimeout: requestTimeout, counters: counters, pageSize: Locked(listPageSize),
      location: Locked(endpoint), endpoints: EndpointPool([endpoint] + moreEndpoints, clock: clock),
      throttle: Throttle(clock: clock), clockOffset: Locked(0), roundTrip: RoundTripEstimate(), clock: clock)
  }

  private init(
    bucket: String, endpoint: S3Endpoint, credentials: RefreshingCredentials, transport: any HTTPTransport,
    retryPolicy: RetryPolicy, logger: Logger, requestTimeout: Duration?, counters: RequestCounters, pageSize: Locked<Int>,
    location: Locked<S3Endpoint>, endpoints: EndpointPool, throttle: Throttle, clockOffset: Locked<TimeInterval>,
    roundTrip: RoundTripEstimate, clock: any MountClock
  ) {
    self.roundTrip = roundTrip
    self.endpoints = endpoints
    self.throttle = throttle
    self.clock = clock
    self.clockOffset = clockOffset
    self.pageSize = pageSize
    self.requestTimeout = requestTimeout
    self.counters = counters
    self.bucket = bucket
    self.location = location
    self.credentials = credentials
    self.transport = transport
    self.retryPolicy = retryPolicy
    self.logger = logger
  }

  /// The same client with another retry policy and request bound, counting into the same
  /// counters and sharing the bucket's location (the start-up check; listings that can fall
  /// back to a cached one).
  public func with(retryPolicy: RetryPolicy, requestTimeout: Duration? = nil) -> S3Client {
    S3Client(
      bucket: bucket, endpoint: endpoint, credentials: credentials, transport: transport,
      retryPolicy: retryPolicy, logger: logger, requestTimeout: requestTimeout ?? self.requestTimeout, counters: counters,
      pageSize: pageSize, location: location, endpoints: endpoints, throttle: throttle, clockOffset: clockOffset,
      roundTrip: roundTrip, clock: clock)
  }

  // MARK: Operations

  /// Checks that the bucket exists and the credentials may list it (one ListObjectsV2 of one key).
  public func checkAccess() throws(S3Error) {
    _ = try listPage(prefix: "", delimiter: "/", continuationToken: nil, maxKeys: 1)
  }

  /// Opens up to `count` connections ahead of need: that many HEADs of the bucket at once, each
  /// left on its connection in the transport's pool. Far from the server, the first burst of a
  /// copy (up to 64 GETs at once) would otherwise wait for as many TCP (and TLS) handshakes, a
  /// round trip or two each. Returns at once; the HEADs run on threads of their own.
  /// Each is sent once, and a refusal (a policy that grants listing only under a prefix, a
  /// server without HeadBucket) is no failure of the mount's: it is logged at debug level and
  /// not counted in `requests_failed`.
  public func warmConnections(_ count: Int) {
    for _ in 0..<count {
      Thread.detachNewThread { [self] in
        var signedWith: Credentials?
        do {
          _ = try sendOnce(
            method: "HEAD", key: nil, query: [], headers: [], body: [], segmentSize: nil, receiver: nil, kind: \.head,
            timeout: requestTimeout, signedWith: &signedWith)
        } catch {
          logger.debug("a HEAD of the bucket to open a connection ahead: \(error)")
        }
      }
    }
  }

  /// One page of ListObjectsV2, of `maxKeys` keys or the client's page size.
  public func listPage(prefix: String, delimiter: String?, continuationToken: String?, maxKeys: Int? = nil)
    throws(S3Error) -> ListPage
  {
    let asked = maxKeys ?? pageSize.withLock { $0 }
    var query: [(String, String)] = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", String(asked))]
    if !prefix.isEmpty { query.append(("prefix", prefix)) }
    if let delimiter { query.append(("delimiter", delimiter)) }
    if let continuationToken { query.append(("continuation-token", continuationToken)) }
    do {
      let response = try send(method: "GET", key: nil, query: query, kind: \.list)
      return try ListObjectsParser.parse(response.body)
    } catch .service(let error) where error.status == 400 && maxKeys == nil && asked > 1000 {
      logger.notice("the server refused \(asked) keys a listing page (\(error.code)); asking for 1000 from now on")
      pageSize.withLock { $0 = 1000 }
      return try listPage(prefix: prefix, delimiter: delimiter, continuationToken: continuationToken, maxKeys: 1000)
    }
  }

  /// Every object and common prefix under `prefix`, following continuation tokens.
  public func listAll(prefix: String, delimiter: String?, maxKeys: Int? = nil) throws(S3Error) -> ListPage {
    var result = ListPage()
    var token: String?
    var seenTokens = Set<String>()
    repeat {
      let page = try listPage(prefix: prefix, delimiter: delimiter, continuationToken: token, maxKeys: maxKeys)
      result.objects += page.objects
      result.commonPrefixes += page.commonPrefixes
      token = page.isTruncated ? page.nextContinuationToken : nil
      if let t = token, !seenTokens.insert(t).inserted {
        throw .invalidResponse("listing repeats continuation token; stopping")
      }
    } while token != nil
    return result
  }

  /// The bytes of `range` (or the whole object). With `ifMatch`, fails with 412 if the object
  /// changed; the body is taken as the range only when it proves to be it (see below).
  /// `objectSize`, when the caller knows it (listing, HEAD), lets a server that ignores Range
  /// and answers 200 with the whole object be served from a slice.
  public func getObject(key: String, range: Range<UInt64>? = nil, ifMatch: String? = nil, objectSize: UInt64? = nil)
    throws(S3Error) -> [UInt8]
  {
    let segments = try getObject(key: key, range: range, ifMatch: ifMatch, segmentSize: nil, objectSize: objectSize)
    return segments.count == 1 ? segments[0] : segments.flatMap { $0 }
  }

  /// How a body answers a ranged GET. Servers differ: AWS answers 206; `rclone serve s3` (and
  /// others with an old HTTP library) answer 200 with the partial body and a Content-Range; a
  /// server that ignores Range answers 200 with the whole object. A body is taken only when it
  /// proves to be the bytes asked for, so no read ever gets a byte from another offset.
  enum RangedBody: Equatable {
    /// The body is exactly the range (206, or 200 with a matching Content-Range).
    case range
    /// The body is the whole object: the range is a slice of it.
    case wholeObject
  }

  /// Decides what a response to a GET of `range` holds, or why it cannot be trusted.
  static func rangedBody(
    status: Int, contentRange: String?, contentLength: UInt64?, received: Int, range: Range<UInt64>, objectSize: UInt64?
  ) -> Result<RangedBody, S3Error> {
    let what = "bytes \(range.lowerBound)-\(range.upperBound - 1)"
    if let length = contentLength, length != UInt64(received) {
      return .failure(.invalidResponse("GET \(what): body is \(received) bytes, Content-Length says \(length)"))
    }
    if let contentRange {
      guard let (start, end, total) = parseContentRangeWithTotal(contentRange), start == range.lowerBound else {
        return .failure(.invalidResponse("GET \(what): Content-Range \(contentRange) does not match the request"))
      }
      if let total, let objectSize, total != objectSize {
        return .failure(.invalidResponse("GET \(what): Content-Range says the object is \(total) bytes, not \(objectSize)"))
      }
      let expected = min(range.upperBound, end + 1) - range.lowerBound
      guard end < range.upperBound, UInt64(received) == expected else {
        return .failure(.invalidResponse("GET \(what): got \(received) bytes under Content-Range \(contentRange)"))
      }
      return .success(.range)
    }
    guard status == 200 else {
      return .failure(.invalidResponse("GET \(what): HTTP \(status) without a Content-Range"))
    }
    // A 200 without Content-Range is the whole object only if its length says so.
    if let objectSize {
      guard UInt64(received) == objectSize else {
        return .failure(
          .invalidResponse(
            "GET \(what): HTTP 200 with \(received) bytes, neither the range nor the whole \(objectSize)-byte object"))
      }
      return .success(.wholeObject)
    }
    // Size unknown: from offset 0 the body's first bytes are the range either way.
    guard range.lowerBound == 0 else {
      return .failure(.invalidResponse("GET \(what): HTTP 200 without Content-Range; cannot tell which bytes it holds"))
    }
    return .success(.wholeObject)
  }

  /// The bytes of `range` in arrays of `segmentSize` bytes (the last may be shorter), received
  /// straight into them: the block cache's way to fetch several blocks in one GET. With a
  /// `receiver`, each full segment is also handed over as soon as it has arrived, once the
  /// answer is known to be the range asked for (a Content-Range that starts there).
  public func getObject(
    key: String, range: Range<UInt64>?, ifMatch: String?, segmentSize: Int?, receiver: (any SegmentReceiver)? = nil,
    objectSize: UInt64? = nil
  ) throws(S3Error) -> [[UInt8]] {
    var headers: [(String, String)] = []
    if let range {
      guard !range.isEmpty else { return [] }
      headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
    }
    if let ifMatch { headers.append(("If-Match", "\"\(ifMatch)\"")) }
    let early = receiver.map { RangeCheckedReceiver(start: range?.lowerBound ?? 0, ranged: range != nil, inner: $0) }
    var shape = RangedBody.range
    let response = try send(
      method: "GET", key: key, headers: headers, segmentSize: segmentSize, receiver: early, kind: \.get
    ) {
      response throws(S3Error) in
      let received = response.bodyCount
      guard let range else {
        if let length = response.header("content-length").flatMap(UInt64.init), length != received {
          throw .invalidResponse("GET \(key): body is \(received) bytes, Content-Length says \(length)")
        }
        return
      }
      switch Self.rangedBody(
        status: response.status, contentRange: response.header("content-range"),
        contentLength: response.header("content-length").flatMap(UInt64.init), received: received, range: range,
        objectSize: objectSize)
      {
      case .success(let s): shape = s
      case .failure(let error): throw error
      }
    }
    if let range, shape == .wholeObject {
      let whole = response.segments.isEmpty ? response.body : response.segments.flatMap { $0 }
      let lower = Int(min(range.lowerBound, UInt64(whole.count)))
      let upper = Int(min(range.upperBound, UInt64(whole.count)))
      let slice = Array(whole[lower..<upper])
      guard let segmentSize, segmentSize > 0 else { return [slice] }
      return stride(from: 0, to: slice.count, by: segmentSize).map { Array(slice[$0..<min(slice.count, $0 + segmentSize)]) }
    }
    return segmentSize == nil ? [response.body] : response.segments
  }

  /// A whole object with its ETag and Last-Modified, in one GET (no HEAD first).
  /// With `versionID`, that version's bytes: the server must name the same version in
  /// `x-amz-version-id` if it names one.
  public func getWholeObject(key: String, versionID: String? = nil) throws(S3Error) -> (
    bytes: [UInt8], etag: String, lastModified: Int64
  ) {
    let query = versionID.map { [("versionId", $0)] } ?? []
    let response = try send(method: "GET", key: key, query: query, kind: \.get) { response throws(S3Error) in
      if let versionID, let served = response.header("x-amz-version-id"), !served.isEmpty, served != versionID {
        throw .invalidResponse("GET \(key) version \(versionID): the server sent version \(served)")
      }
      if let length = response.header("content-length").flatMap(UInt64.init), length != response.body.count {
        throw .invalidResponse("GET \(key): body is \(response.body.count) bytes, Content-Length says \(length)")
      }
    }
    return (
      response.body, response.header("etag")?.unquotedETag ?? "",
      response.header("last-modified").flatMap(HTTPDate.parseRFC1123) ?? 0
    )
  }

  /// A small object whole, with its ETag, or nil when the key does not exist. One GET of the
  /// range `0...limit`, so an object larger than `limit` bytes costs no more than that and is
  /// an error; an empty object (416 to any range) is an empty array.
  public func getSmallObject(key: String, limit: Int) throws(S3Error) -> (bytes: [UInt8], etag: String)? {
    let response: HTTPResponse
    do {
      response = try send(method: "GET", key: key, headers: [("Range", "bytes=0-\(limit)")], kind: \.get) {
        response throws(S3Error) in
        let received = response.bodyCount
        if let length = response.header("content-length").flatMap(UInt64.init), length != received {
          throw .invalidResponse("GET \(key): body is \(received) bytes, Content-Length says \(length)")
        }
        if let range = response.header("content-range"), Self.parseContentRangeWithTotal(range)?.0 != 0 {
          throw .invalidResponse("GET \(key): Content-Range \(range) does not start at 0")
        }
      }
    } catch  where error.isNotFound {
      return nil
    } catch  where error.status == 416 {
      return ([], "")
    }
    guard response.body.count <= limit else {
      throw .invalidResponse("GET \(key): the object is larger than \(limit) bytes")
    }
    return (response.body, response.header("etag")?.unquotedETag ?? "")
  }

  /// The object's size, ETag, Last-Modified and user metadata; of one version with `versionID`.
  public func headObject(key: String, versionID: String? = nil) throws(S3Error) -> ObjectHead {
    let response = try send(
      method: "HEAD", key: key, query: versionID.map { [("versionId", $0)] } ?? [], kind: \.head)
    var metadata: [String: String] = [:]
    for (name, value) in response.headers where name.hasPrefix("x-amz-meta-") {
      metadata[String(name.dropFirst("x-amz-meta-".count))] = value
    }
    return ObjectHead(
      size: response.header("content-length").flatMap(UInt64.init) ?? 0,
      etag: response.header("etag")?.unquotedETag ?? "",
      lastModified: response.header("last-modified").flatMap(HTTPDate.parseRFC1123) ?? 0,
      metadata: metadata)
  }

  /// Uploads a whole object in one PUT; returns the new ETag.
  @discardableResult
  public func putObject(
    key: String, body: [UInt8], contentType: String = "application/octet-stream",
    metadata: [String: String] = [:], condition: PutCondition = .none
  ) throws(S3Error) -> String {
    try put(key: key, body: body, contentType: contentType, metadata: metadata, condition: condition).etag
  }

  /// Uploads a whole object in one PUT, with `x-amz-meta-NAME` for each `metadata` entry;
  /// returns the new ETag and, on a versioned bucket, the new version's id.
  public func put(
    key: String, body: [UInt8], contentType: String = "application/octet-stream",
    metadata: [String: String] = [:], condition: PutCondition = .none
  ) throws(S3Error) -> WriteResult {
    var headers: [(String, String)] = [
      ("Content-Type", contentType), ("Content-MD5", Data(Digest.md5(body)).base64EncodedString()),
    ]
    for (name, value) in metadata.sorted(by: { $0.key < $1.key }) { headers.append(("x-amz-meta-\(name)", value)) }
    switch condition {
    case .none: break
    case .ifMatch(let etag): headers.append(("If-Match", "\"\(etag)\""))
    case .ifNoneMatch: headers.append(("If-None-Match", "*"))
    }
    let response = try send(method: "PUT", key: key, headers: headers, body: body, kind: \.put)
    return WriteResult(
      etag: response.header("etag")?.unquotedETag ?? Digest.hex(Digest.md5(body)),
      versionID: response.header("x-amz-version-id").flatMap { $0.isEmpty ? nil : $0 })
  }

  /// Deletes an object (on a versioned bucket: adds a delete marker, whose id is returned).
  /// `metadata` goes along as `x-amz-meta-*` headers, for the server's access log; S3 stores
  /// no metadata on a delete marker.
  @discardableResult
  public func deleteObject(key: String, metadata: [String: String] = [:]) throws(S3Error) -> WriteResult {
    let headers = metadata.sorted(by: { $0.key < $1.key }).map { ("x-amz-meta-\($0.key)", $0.value) }
    let response = try send(method: "DELETE", key: key, headers: headers, kind: \.delete)
    return WriteResult(etag: "", versionID: response.header("x-amz-version-id").flatMap { $0.isEmpty ? nil : $0 })
  }

  /// Creates the bucket (used by tests, the demo and the simulator; the mount never creates buckets).
  public func createBucket() throws(S3Error) {
    do {
      _ = try send(method: "PUT", key: nil, kind: \.put)
    } catch  where error.code == "BucketAlreadyOwnedByYou" || error.code == "BucketAlreadyExists" {
      return
    }
  }

  // MARK: Plumbing

  func send(
    method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
    body: [UInt8] = [], segmentSize: Int? = nil, receiver: (any SegmentReceiver)? = nil,
    kind: WritableKeyPath<RequestCounts, Int>,
    validate: (HTTPResponse) throws(S3Error) -> Void = { _ in }
  ) throws(S3Error) -> HTTPResponse {
    let start = clock.instant()
    var attempt = 1
    let recentlyUnreachable = unreachableSince.withLock { $0.map { start - $0 < Self.quickFailWindow } ?? false }
    // Backoff and the quick-fail bound scale with the link's round trip (`RetryPolicy.scaled`).
    let rtt = roundTrip.current
    let policy = recentlyUnreachable ? RetryPolicy.none : retryPolicy.scaled(toRoundTrip: rtt)
    let quickBound = max(.seconds(3), (rtt ?? .zero) * 20)
    let timeout = recentlyUnreachable ? min(requestTimeout ?? quickBound, quickBound) : requestTimeout
    // Each once per request: signing again at the server's time, and with fresh credentials.
    var correctedClock = false
    var refreshedCredentials = false
    // Throttling answers cost half an attempt of the budget: a store that sheds load with 503
    // SlowDown slows the mount down (`Throttle`) without failing its operations.
    var throttled = 0
    while true {
      var signedWith: Credentials?
      if let wait = throttle.wait(unit: Double.random(in: 0..<1)) { clock.sleep(for: wait) }
      do {
        let response = try sendOnce(
          method: method, key: key, query: query, headers: headers, body: body, segmentSize: segmentSize,
          receiver: receiver, kind: kind, timeout: timeout, signedWith: &signedWith)
        try validate(response)
        unreachableSince.withLock { $0 = nil }
        throttle.succeeded()
        return response
      } catch {
        if case .service(let e) = error, let region = e.wrongRegion, switchRegion(to: region) { continue }
        if case .service(let e) = error, !correctedClock, correctClock(after: e) {
          correctedClock = true
          continue
        }
        if case .service(let e) = error, !refreshedCredentials, Self.credentialRefusals.contains(e.code),
          let signedWith, credentials.rejected(signedWith)
        {
          refreshedCredentials = true
          logger.notice("\(method) \(key ?? "/"): \(e.code): asking \(credentials.provider.name) for fresh credentials")
          continue
        }
        let elapsed = clock.instant() - start
        if case .transport = error, !policy.allowsAttempt(attempt + 1, elapsed: elapsed) || !policy.isRetryable(error) {
          let now = clock.instant()
          unreachableSince.withLock { $0 = now }
        }
        let isThrottling = Throttle.isThrottling(error)
        if isThrottling {
          throttled += 1
          throttle.slowDown()
        }
        if policy.isRetryable(error), policy.allowsAttempt(attempt + 1 - throttled / 2, elapsed: elapsed) {
          attempt += 1
          counters.record { $0.retries += 1 }
          let wait = policy.delay(beforeAttempt: attempt, unit: Double.random(in: 0..<1))
          logger.debug("retrying \(method) \(key ?? "/") after \(error) (attempt \(attempt))")
          clock.sleep(for: wait)
          continue
        }
        if case .service(let e) = error, e.status == 404 || e.status == 412 {
          counters.record { if e.status == 404 { $0.notFound += 1 } else { $0.preconditionFailed += 1 } }
          logger.debug("\(method) \(key ?? "/"): \(error)")
        } else {
          counters.record { $0.failures += 1 }
          logger.warning("\(method) \(key ?? "/") failed: \(error)")
        }
        throw error
      }
    }
  }

  /// Answers that say the key signed with is expired, revoked or unknown.
  static let credentialRefusals: Set<String> = [
    "ExpiredToken", "InvalidToken", "InvalidAccessKeyId", "TokenRefreshRequired", "ExpiredTokenException",
  ]

  /// After a refusal for a skewed clock (RequestTimeTooSkewed, or a 403 whose `Date` is more
  /// than 5 minutes from ours), takes the server's time as the offset. True when it changed.
  private func correctClock(after error: ServiceError) -> Bool {
    guard error.status == 403 || error.code == "RequestTimeTooSkewed", let server = error.serverTime else { return false }
    let offset = TimeInterval(server) - clock.now().timeIntervalSince1970
    let previous = clockOffset.withLock { $0 }
    guard error.code == "RequestTimeTooSkewed" || abs(offset - previous) > Self.skewTolerance else { return false }
    guard abs(offset - previous) > 1 else { return false }
    clockOffset.withLock { $0 = offset }
    logger.notice("S3's clock is \(Int(offset.rounded())) s from this machine's: signing at the server's time from now on")
    return true
  }

  private func sendOnce(
    method: String, key: String?, query: [(String, String)], headers: [(String, String)], body: [UInt8],
    segmentSize: Int?, receiver: (any SegmentReceiver)?, kind: WritableKeyPath<RequestCounts, Int>, timeout: Duration?,
    signedWith: inout Credentials?
  ) throws(S3Error) -> HTTPResponse {
    // One endpoint: the bucket's location (which may move to the bucket's region). Several:
    // a healthy one of the store, signed for the same region.
    var endpoint = self.endpoint
    var picked: Int?
    if endpoints.count > 1 {
      let choice = endpoints.pick()
      let region = endpoint.region
      endpoint = choice.endpoint
      endpoint.region = region
      picked = choice.index
    }
    let credentials: Credentials
    do { credentials = try self.credentials.current() } catch { throw .credentials(error.description) }
    signedWith = credentials
    let signer = SigV4(credentials: credentials, region: endpoint.region)
    let (host, path) = endpoint.location(bucket: bucket, key: key)
    let payloadHash = body.isEmpty ? SigV4.emptyPayloadHash : Digest.hex(Digest.sha256(body))
    var allHeaders = headers
    allHeaders.append(("Host", host))
    let signature = signer.sign(
      method: method, path: path, query: query, headers: allHeaders, payloadHash: payloadHash,
      date: clock.now().addingTimeInterval(clockOffset.withLock { $0 }))
    // What the server must compute to check the signature: holds no secret (the key is only in
    // the HMAC), and a session token, if any, is left out.
    logger.debug(
      "\(method) \(key ?? "/"): canonical request:\n\(Self.redactingToken(signature.canonicalRequest))\nstring to sign:\n\(signature.stringToSign)"
    )
    allHeaders += signature.headers
    let queryString = query.map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
    let url = "\(endpoint.scheme)://\(host)\(path)" + (queryString.isEmpty ? "" : "?\(queryString)")
    counters.record {
      $0[keyPath: kind] += 1; $0.bytesUploaded += UInt64(body.count)
    }
    let response: HTTPResponse
    let sent = clock.instant()
    do {
      var request = HTTPRequest(method: method, url: url, headers: allHeaders, body: body, timeout: timeout)
      request.bodySegmentSize = segmentSize
      request.segmentReceiver = receiver
      response = try transport.perform(request)
    } catch {
      reportEndpoint(picked, error.kind == .connect || error.kind == .resolve ? .refused : .failed)
      throw .transport(error)
    }
    counters.record {
      $0.bytesDownloaded += UInt64(response.bodyCount)
      if response.newConnection == true { $0.connectionsOpened += 1 }
    }
    logger.trace(
      "\(method) \(key ?? "/") \(headers.first { $0.0 == "Range" }?.1 ?? ""): \(response.status), \(response.bodyCount) bytes in \((clock.instant() - sent).milliseconds) ms, first byte after \(response.firstByteWait.map { String($0.milliseconds) } ?? "?") ms\(response.newConnection == true ? ", new connection" : "")"
    )
    if let wait = response.firstByteWait { roundTrip.record(wait) }
    guard (200..<300).contains(response.status) else {
      var error = ErrorResponseParser.parse(
        status: response.status, body: method == "HEAD" ? [] : response.body,
        requestID: response.header("x-amz-request-id"), bucketRegion: response.header("x-amz-bucket-region"))
      if response.status == 403 { error.serverTime = response.header("date").flatMap(HTTPDate.parseRFC1123) }
      // A gateway that answers 5xx is failing; one that asks to slow down is not.
      let broken = error.status >= 500 && !Throttle.isThrottling(.service(error))
      reportEndpoint(picked, broken ? .failed : .answered)
      throw .service(error)
    }
    reportEndpoint(picked, .answered)
    return response
  }

  /// Tells the endpoint pool how a request to endpoint `index` (nil: the only one) ended.
  private func reportEndpoint(_ index: Int?, _ outcome: EndpointPool.Outcome) {
    guard let index, let line = endpoints.report(index, outcome) else { return }
    logger.warning("\(line)")
  }

  /// Moves the client to the bucket's own region, as the AWS SDKs do: the requests are signed
  /// for it from now on, and an AWS regional endpoint follows it. False when there is nothing
  /// to change (the same region: the refusal stands).
  func switchRegion(to region: String) -> Bool {
    guard region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), region.count < 40 else { return false }
    let moved = location.withLock { e -> S3Endpoint? in
      guard e.region != region else { return nil }
      e.region = region
      if e.host == "s3.amazonaws.com" || (e.host.hasPrefix("s3.") && e.host.hasSuffix(".amazonaws.com")) {
        e.host = "s3.\(region).amazonaws.com"
      }
      return e
    }
    guard let moved else { return false }
    logger.notice("bucket \(bucket) is in region \(region): using \(moved.description) and region \(region) from now on")
    return true
  }

  /// The canonical request with the value of `x-amz-security-token` replaced.
  static func redactingToken(_ canonical: String) -> String {
    canonical.split(separator: "\n", omittingEmptySubsequences: false).map {
      $0.hasPrefix("x-amz-security-token:") ? "x-amz-security-token:(hidden)" : String($0)
    }.joined(separator: "\n")
  }

  static func parseContentRange(_ value: String) -> (UInt64, UInt64)? {
    parseContentRangeWithTotal(value).map { ($0.0, $0.1) }
  }

  /// `bytes 0-9/443` → (0, 9, 443); the total is nil for `*`.
  static func parseContentRangeWithTotal(_ value: String) -> (UInt64, UInt64, UInt64?)? {
    guard value.hasPrefix("bytes ") else { return nil }
    let parts = value.dropFirst(6).split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
    guard bounds.count == 2, let a = UInt64(bounds[0]), let b = UInt64(bounds[1]), a <= b else { return nil }
    if parts[1] == "*" { return (a, b, nil) }
    guard let total = UInt64(parts[1]), b < total else { return nil }
    return (a, b, total)
  }
}

/// Lets segments through early only from the answer asked for: 206 with a Content-Range that
/// starts at the range's start (or 200 for a GET without a range), so segment i is exactly
/// the bytes at start + i × size.
private final class RangeCheckedReceiver: SegmentReceiver, Sendable {
  let start: UInt64
  let ranged: Bool
  let inner: any SegmentReceiver

  init(start: UInt64, ranged: Bool, inner: any SegmentReceiver) {
    self.start = start
    self.ranged = ranged
    self.inner = inner
  }

  func accept(status: Int, headers: [(String, String)]) -> Bool {
    if ranged {
      // 206, or a 200 that carries a Content-Range (rclone's server): both are the range then.
      guard status == 206 || status == 200, let value = headers.last(where: { $0.0 == "content-range" })?.1,
        let (first, _) = S3Client.parseContentRange(value), first == start
      else { return false }
    } else {
      guard status == 200 else { return false }
    }
    return inner.accept(status: status, headers: headers)
  }

  func arrived(segment index: Int, _ bytes: UnsafeRawBufferPointer) { inner.arrived(segment: index, bytes) }

  func receive(segment index: Int, _ bytes: [UInt8]) { inner.receive(segment: index, bytes) }
}
