import Digest
import Foundation
import Locking
import S3

/// An S3 server in memory, behind the client's `HTTPTransport` seam: path-style requests for
/// one or more buckets with S3's rules — MD5 ETags, `If-Match`/`If-None-Match` answered with
/// 412, ranges answered with 206 and `Content-Range` (416 past the end), ListObjectsV2 with
/// prefixes, delimiters, url encoding and continuation pages, `x-amz-meta-*` headers, XML error
/// bodies. Signatures are not checked.
///
/// Faults are injected per request by `faults`: a fake server with S3's semantics, not a mock
/// of call sequences, so the filesystem core can be driven through thousands of cases fast.
public final class InMemoryS3: HTTPTransport, @unchecked Sendable {
  public struct Object: Sendable, Equatable {
    public var bytes: [UInt8]
    public var etag: String
    public var metadata: [String: String]
    public var lastModified: Int64
  }

  /// What to do instead of (or on top of) the normal answer to one request.
  public enum Fault: Sendable, Equatable {
    /// Answer with this status and S3 error code (500 InternalError, 503 SlowDown, ...).
    case status(Int, String)
    /// Time out without reaching the server.
    case timeout
    /// Carry out the request, then lose the answer (a PUT that lands but whose reply is lost).
    case lostReply
    /// Cut the body in half, as a connection reset mid-body does.
    case resetMidBody
    /// Send fewer bytes than the Content-Length says.
    case shortBody
    /// Answer a ranged GET with 200, the partial body and a matching Content-Range (rclone's
    /// server does this).
    case rangeAs200
    /// Answer a ranged GET with 200 and the whole object (a server that ignores Range).
    case wholeBodyFor200
    /// Answer a ranged GET with a Content-Range that does not match the request.
    case wrongContentRange
    /// Another client writes the object just before this request is carried out.
    case concurrentWrite([UInt8])
    /// The answer comes this many seconds late (a slow server), otherwise as usual.
    case delay(Double)
    /// A 2xx body comes in pieces of this many bytes, with a pause of this many seconds after
    /// each (a slow link): a segmented body's receiver sees each piece arrive.
    case trickle(Int, Double)
    /// Answer a GET or HEAD of one version with the current object (a server that ignores
    /// `versionId`).
    case ignoreVersionID
  }

  /// One stored version of a key, or a delete marker (`object` nil).
  public struct StoredVersion: Sendable, Equatable {
    public var id: String
    public var object: Object?
    public var lastModified: Int64
  }

  private struct State {
    var buckets: [String: [String: Object]] = [:]
    /// Buckets with versioning on, and every version of their keys, oldest first.
    var versioned: Set<String> = []
    var versions: [String: [String: [StoredVersion]]] = [:]
    var nextVersion = 0
    var clock: Int64 = 1_700_000_000
    var requests: [String] = []
  }

  private let state = Locked(State())
  /// Buckets that live in a region of their own, answered as AWS answers a request signed for
  /// another region: 400 AuthorizationHeaderMalformed (or 301 PermanentRedirect with
  /// `redirectForWrongRegion`), naming the region in `x-amz-bucket-region` and `<Region>`.
  public let bucketRegions = Locked<[String: String]>([:])
  public let redirectForWrongRegion = Locked(false)
  /// Ignores If-Match / If-None-Match on PUT, as `rclone serve s3` does (GET still honours them).
  public let ignoresConditionalPut = Locked(false)
  /// Decides a fault for each request (method, key); nil for none. Called under no lock.
  public let faults = Locked<(@Sendable (_ method: String, _ key: String?) -> Fault?)?>(nil)
  /// A link's round trip in seconds, added to every request before it is carried out, and
  /// reported as the answer's first-byte wait (as curl measures it).
  public let roundTrip = Locked<Double>(0)
  /// Requests under way now, and the most there have been at once.
  public let concurrency = Locked<(now: Int, most: Int)>((0, 0))

  public init(buckets: [String] = []) {
    state.withLock { s in for b in buckets { s.buckets[b] = [:] } }
  }

  /// A client of `bucket` on this server, with quick retries.
  public func client(
    bucket: String, retryPolicy: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)),
    clock: any MountClock = SystemClock()
  ) -> S3Client {
    state.withLock { s in if s.buckets[bucket] == nil { s.buckets[bucket] = [:] } }
    return S3Client(
      bucket: bucket, endpoint: try! S3Endpoint(url: "http://s3.test", region: "us-east-1"),
      credentials: Credentials(accessKeyID: "AKIDTEST", secretAccessKey: "secret", source: "test"), transport: self,
      retryPolicy: retryPolicy, clock: clock)
  }

  public func object(_ bucket: String, _ key: String) -> Object? { state.withLock { $0.buckets[bucket]?[key] } }
  /// "METHOD key" of every request carried out, oldest first.
  public var requestLog: [String] { state.withLock { $0.requests } }

  /// Stores an object directly, as another client would.
  @discardableResult
  public func put(_ bucket: String, _ key: String, _ bytes: [UInt8], metadata: [String: String] = [:]) -> String {
    state.withLock { s in Self.store(&s, bucket, key, bytes, metadata).etag }
  }

  /// Turns versioning on for `bucket`: every PUT and DELETE from now on keeps a version.
  public func enableVersioning(_ bucket: String) { state.withLock { _ = $0.versioned.insert(bucket) } }

  /// Every version of `key`, oldest first.
  public func versions(_ bucket: String, _ key: String) -> [StoredVersion] {
    state.withLock { $0.versions[bucket]?[key] ?? [] }
  }

  private static func store(_ s: inout State, _ bucket: String, _ key: String, _ bytes: [UInt8], _ metadata: [String: String])
    -> (etag: String, versionID: String?)
  {
    s.clock += 1
    let etag = Digest.hex(Digest.md5(bytes))
    let object = Object(bytes: bytes, etag: etag, metadata: metadata, lastModified: s.clock)
    s.buckets[bucket, default: [:]][key] = object
    return (etag, keepVersion(&s, bucket, key, object))
  }

  /// On a versioned bucket, keeps `object` (nil: a delete marker) as the key's newest version.
  private static func keepVersion(_ s: inout State, _ bucket: String, _ key: String, _ object: Object?) -> String? {
    guard s.versioned.contains(bucket) else { return nil }
    s.nextVersion += 1
    let id = "v\(s.nextVersion)"
    s.versions[bucket, default: [:]][key, default: []].append(
      StoredVersion(id: id, object: object, lastModified: object?.lastModified ?? s.clock))
    return id
  }

  // MARK: HTTP

  public func perform(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
    concurrency.withLock { c in
      c.now += 1
      c.most = max(c.most, c.now)
    }
    defer { concurrency.withLock { $0.now -= 1 } }
    let link = roundTrip.withLock { $0 }
    if link > 0 { Thread.sleep(forTimeInterval: link) }
    var response = try answer(request)
    if link > 0 { response.firstByteWait = .microseconds(Int64(link * 1e6)) }
    return response
  }

  private func answer(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
    guard let components = URLComponents(string: request.url) else {
      return Self.error(400, "InvalidURI", "bad URL")
    }
    let rest = components.percentEncodedPath.dropFirst()  // leading "/"
    let slash = rest.firstIndex(of: "/")
    let bucket = String(slash.map { rest[..<$0] } ?? rest)
    let key = slash.map { URIEncoding.decode(String(rest[rest.index(after: $0)...]), plusAsSpace: false) }
    var query: [String: String] = [:]
    for item in components.percentEncodedQueryItems ?? [] {
      query[item.name] = URIEncoding.decode(item.value ?? "", plusAsSpace: false)
    }
    let headers = Dictionary(request.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { _, b in b })
    if let home = bucketRegions.withLock({ $0[bucket] }), let auth = headers["authorization"],
      let scope = auth.range(of: "Credential=").map({ auth[$0.upperBound...].split(separator: ",")[0] })
    {
      let signedFor = scope.split(separator: "/").dropFirst(2).first.map(String.init) ?? ""
      if signedFor != home {
        let redirect = redirectForWrongRegion.withLock { $0 }
        let code = redirect ? "PermanentRedirect" : "AuthorizationHeaderMalformed"
        let xml =
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>the region '\(signedFor)' is wrong; expecting '\(home)'</Message><Region>\(home)</Region></Error>"
        return HTTPResponse(
          status: redirect ? 301 : 400, headers: [("x-amz-bucket-region", home), ("x-amz-request-id", "INMEMORY")],
          body: Array(xml.utf8))
      }
    }
    let fault = faults.withLock { $0 }?(request.method, key)
    switch fault {
    case .status(let status, let code)?: return Self.error(status, code, "injected")
    case .timeout?: throw TransportError(kind: .timeout, message: "injected timeout")
    case .concurrentWrite(let bytes)?: if let key { put(bucket, key, bytes) }
    case .delay(let seconds)?: Thread.sleep(forTimeInterval: seconds)
    default: break
    }
    var response = handle(
      request.method, bucket: bucket, key: key, query: query, headers: headers, body: request.body, fault: fault)
    switch fault {
    case .lostReply?: throw TransportError(kind: .reset, message: "injected: reply lost")
    case .resetMidBody? where response.body.count > 1:
      throw TransportError(kind: .reset, message: "injected: connection reset after \(response.body.count / 2) bytes")
    case .shortBody? where !response.body.isEmpty:
      response.body.removeLast(max(1, response.body.count / 3))
    default: break
    }
    if case .trickle(let piece, let pause)? = fault {
      return deliver(response, to: request, piece: max(1, piece), pause: pause)
    }
    return deliver(response, to: request)
  }

  /// Splits a 2xx body into segments when the request asked for them, as the curl transport
  /// does, and hands them to the request's receiver: each segment's bytes so far after every
  /// `piece` bytes (a pause after each), then each full segment.
  private func deliver(_ response: HTTPResponse, to request: HTTPRequest, piece: Int? = nil, pause: Double = 0)
    -> HTTPResponse
  {
    guard let size = request.bodySegmentSize, (200..<300).contains(response.status) else {
      if pause > 0 { Thread.sleep(forTimeInterval: pause * Double(response.body.count / max(1, piece ?? 1))) }
      return response
    }
    let segments = stride(from: 0, to: response.body.count, by: max(1, size)).map {
      Array(response.body[$0..<min(response.body.count, $0 + size)])
    }
    if let receiver = request.segmentReceiver, receiver.accept(status: response.status, headers: response.headers) {
      for (i, segment) in segments.enumerated() {
        // Without a trickle, the first half arrives before the whole.
        for end in stride(from: piece ?? max(1, segment.count / 2), to: segment.count, by: piece ?? segment.count) {
          segment.withUnsafeBytes { receiver.arrived(segment: i, UnsafeRawBufferPointer(rebasing: $0[..<end])) }
          if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
        if segment.count == size { receiver.receive(segment: i, segment) }
      }
    }
    return HTTPResponse(status: response.status, headers: response.headers, body: [], segments: segments)
  }

  private func handle(
    _ method: String, bucket: String, key: String?, query: [String: String], headers: [String: String], body: [UInt8],
    fault: Fault?
  ) -> HTTPResponse {
    state.withLock { s in
      s.requests.append("\(method) \(key ?? "/")")
      guard s.buckets[bucket] != nil || (method == "PUT" && key == nil) else {
        return Self.error(404, "NoSuchBucket", "The specified bucket does not exist")
      }
      guard let key else {
        switch method {
        case "PUT":
          if s.buckets[bucket] != nil { return Self.error(409, "BucketAlreadyOwnedByYou", "exists") }
          s.buckets[bucket] = [:]
          return HTTPResponse(status: 200, headers: [], body: [])
        case "GET" where query["versioning"] != nil:
          let status = s.versioned.contains(bucket) ? "<Status>Enabled</Status>" : ""
          return HTTPResponse(
            status: 200, headers: [],
            body: Array("<?xml version=\"1.0\"?><VersioningConfiguration>\(status)</VersioningConfiguration>".utf8))
        case "GET" where query["versions"] != nil: return Self.listVersions(s.versions[bucket] ?? [:], query)
        case "GET": return Self.list(s.buckets[bucket]!, query)
        case "HEAD": return HTTPResponse(status: 200, headers: [], body: [])  // HeadBucket
        default: return Self.error(405, "MethodNotAllowed", method)
        }
      }
      var current = s.buckets[bucket]![key]
      if (method == "GET" || method == "HEAD"), let wanted = query["versionId"], fault != .ignoreVersionID {
        guard let version = s.versions[bucket]?[key]?.first(where: { $0.id == wanted }) else {
          return Self.error(404, "NoSuchVersion", "The specified version does not exist.")
        }
        guard let object = version.object else { return Self.error(405, "MethodNotAllowed", "a delete marker") }
        current = object
      }
      let checksConditions = method != "PUT" || !ignoresConditionalPut.withLock { $0 }
      if checksConditions, let failed = Self.preconditionFailure(headers, current: current, method: method) {
        return failed
      }
      switch method {
      case "PUT":
        if let md5 = headers["content-md5"], md5 != Data(Digest.md5(body)).base64EncodedString() {
          return Self.error(400, "BadDigest", "Content-MD5 does not match")
        }
        let metadata = Dictionary(
          headers.filter { $0.key.hasPrefix("x-amz-meta-") }.map { (String($0.key.dropFirst(11)), $0.value) },
          uniquingKeysWith: { _, b in b })
        let (etag, versionID) = Self.store(&s, bucket, key, body, metadata)
        return HTTPResponse(
          status: 200, headers: [("etag", "\"\(etag)\"")] + (versionID.map { [("x-amz-version-id", $0)] } ?? []), body: [])
      case "DELETE":
        s.buckets[bucket]![key] = nil
        s.clock += 1
        let marker = Self.keepVersion(&s, bucket, key, nil)
        return HTTPResponse(status: 204, headers: marker.map { [("x-amz-version-id", $0)] } ?? [], body: [])
      case "GET", "HEAD":
        guard let object = current else { return Self.error(404, "NoSuchKey", "The specified key does not exist.") }
        var out: [(String, String)] = [
          ("etag", "\"\(object.etag)\""),
          ("last-modified", Self.rfc1123(object.lastModified)),
        ]
        for (name, value) in object.metadata.sorted(by: { $0.key < $1.key }) { out.append(("x-amz-meta-\(name)", value)) }
        if method == "HEAD" {
          out.append(("content-length", String(object.bytes.count)))
          return HTTPResponse(status: 200, headers: out, body: [])
        }
        guard let range = headers["range"].flatMap({ Self.parseRange($0, size: object.bytes.count) }) else {
          if headers["range"] != nil { return Self.error(416, "InvalidRange", "The requested range is not satisfiable") }
          out.append(("content-length", String(object.bytes.count)))
          return HTTPResponse(status: 200, headers: out, body: object.bytes)
        }
        let part = Array(object.bytes[range])
        var contentRange = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(object.bytes.count)"
        switch fault {
        case .wholeBodyFor200?:
          out.append(("content-length", String(object.bytes.count)))
          return HTTPResponse(status: 200, headers: out, body: object.bytes)
        case .rangeAs200?:
          out += [("content-range", contentRange), ("content-length", String(part.count))]
          return HTTPResponse(status: 200, headers: out, body: part)
        case .wrongContentRange?:
          let shifted = min(range.lowerBound + 1, object.bytes.count - 1)
          contentRange = "bytes \(shifted)-\(range.upperBound - 1)/\(object.bytes.count)"
        default: break
        }
        out += [("content-range", contentRange), ("content-length", String(part.count))]
        return HTTPResponse(status: 206, headers: out, body: part)
      default:
        return Self.error(405, "MethodNotAllowed", method)
      }
    }
  }

  private static func preconditionFailure(_ headers: [String: String], current: Object?, method: String) -> HTTPResponse? {
    if let match = headers["if-match"] {
      let wanted = match.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
      guard let current else {
        return error(method == "PUT" ? 404 : 412, method == "PUT" ? "NoSuchKey" : "PreconditionFailed", "")
      }
      if wanted != "*" && wanted != current.etag {
        return error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
      }
    }
    if headers["if-none-match"] == "*", current != nil {
      return error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    }
    return nil
  }

  static func parseRange(_ value: String, size: Int) -> Range<Int>? {
    guard value.hasPrefix("bytes=") else { return nil }
    let parts = value.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 2, let first = Int(parts[0]), first < size else { return nil }
    let last = parts[1].isEmpty ? size - 1 : min(size - 1, Int(parts[1]) ?? -1)
    guard last >= first else { return nil }
    return first..<last + 1
  }

  private static func list(_ objects: [String: Object], _ query: [String: String]) -> HTTPResponse {
    let prefix = query["prefix"] ?? ""
    let delimiter = query["delimiter"].flatMap { $0.isEmpty ? nil : $0 }
    let maxKeys = min(1000, Int(query["max-keys"] ?? "1000") ?? 1000)
    let after = query["continuation-token"] ?? ""
    var entries: [(key: String, isPrefix: Bool)] = []
    var seenPrefixes = Set<String>()
    for key in objects.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where key.hasPrefix(prefix) {
      if let delimiter, let r = key.dropFirst(prefix.count).range(of: delimiter) {
        let common = prefix + key.dropFirst(prefix.count)[..<r.upperBound]
        if seenPrefixes.insert(common).inserted { entries.append((common, true)) }
      } else {
        entries.append((key, false))
      }
    }
    let start = entries.firstIndex { after.isEmpty || after.utf8.lexicographicallyPrecedes($0.key.utf8) } ?? entries.count
    let page = entries[start..<min(entries.count, start + maxKeys)]
    let truncated = start + maxKeys < entries.count
    var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><EncodingType>url</EncodingType>"
    xml += "<KeyCount>\(page.count)</KeyCount><IsTruncated>\(truncated)</IsTruncated>"
    if truncated, let last = page.last { xml += "<NextContinuationToken>\(escape(last.key))</NextContinuationToken>" }
    for entry in page {
      if entry.isPrefix {
        xml += "<CommonPrefixes><Prefix>\(URIEncoding.encode(entry.key, keepSlash: true))</Prefix></CommonPrefixes>"
      } else {
        let o = objects[entry.key]!
        xml += "<Contents><Key>\(URIEncoding.encode(entry.key, keepSlash: true))</Key>"
        xml += "<LastModified>\(Self.iso8601(o.lastModified))</LastModified><ETag>&quot;\(o.etag)&quot;</ETag>"
        xml += "<Size>\(o.bytes.count)</Size></Contents>"
      }
    }
    xml += "</ListBucketResult>"
    return HTTPResponse(status: 200, headers: [("content-type", "application/xml")], body: Array(xml.utf8))
  }

  /// ListObjectVersions of one page (no paging: tests keep to a few versions), newest first
  /// within a key.
  private static func listVersions(_ versions: [String: [StoredVersion]], _ query: [String: String]) -> HTTPResponse {
    let prefix = query["prefix"] ?? ""
    var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListVersionsResult><EncodingType>url</EncodingType>"
    xml += "<IsTruncated>false</IsTruncated>"
    for key in versions.keys.sorted() where key.hasPrefix(prefix) && !key.dropFirst(prefix.count).contains("/") {
      let all = versions[key]!
      var entries: [String] = []
      for (i, version) in all.enumerated() {
        let latest = i == all.count - 1
        let id =
          "<Key>\(URIEncoding.encode(key, keepSlash: true))</Key><VersionId>\(version.id)</VersionId><IsLatest>\(latest)</IsLatest>"
        let time = iso8601(version.lastModified)
        if let object = version.object {
          entries.append(
            "<Version>\(id)<LastModified>\(time)</LastModified><ETag>&quot;\(object.etag)&quot;</ETag><Size>\(object.bytes.count)</Size></Version>"
          )
        } else {
          entries.append("<DeleteMarker>\(id)<LastModified>\(time)</LastModified></DeleteMarker>")
        }
      }
      xml += entries.reversed().joined()
    }
    xml += "</ListVersionsResult>"
    return HTTPResponse(status: 200, headers: [("content-type", "application/xml")], body: Array(xml.utf8))
  }

  static func rfc1123(_ epoch: Int64) -> String {
    let t = utc(epoch)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return
      "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
  }

  static func iso8601(_ epoch: Int64) -> String {
    let t = utc(epoch)
    return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)).000Z"
  }

  private static func utc(_ epoch: Int64) -> tm {
    var seconds = time_t(epoch)
    var t = tm()
    gmtime_r(&seconds, &t)
    return t
  }

  private static func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }

  private static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
      of: ">", with: "&gt;")
  }

  static func error(_ status: Int, _ code: String, _ message: String) -> HTTPResponse {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>\(escape(message))</Message></Error>"
    return HTTPResponse(status: status, headers: [("x-amz-request-id", "INMEMORY")], body: Array(xml.utf8))
  }
}
