import CCurl
import Foundation
import Locking

/// Timeouts and TLS settings for `CurlTransport`.
public struct TransportOptions: Sendable {
  public var connectTimeout: Duration = .seconds(5)
  /// A transfer slower than 1 byte/s for this long is aborted, so no request hangs forever.
  public var lowSpeedTime: Duration = .seconds(15)
  /// Upper bound on one whole request, whatever its speed.
  public var totalTimeout: Duration = .seconds(300)
  /// PEM file of CAs to trust instead of the system store (`--ca-file`).
  public var caFile: String?

  public init() {}
}

/// `HTTPTransport` on libcurl easy handles, pooled so connections are reused. The handles share
/// TLS sessions and DNS answers (a curl share object), so a handle's first connection resumes
/// a TLS session another handle made instead of a full handshake.
public final class CurlTransport: HTTPTransport {
  private let options: TransportOptions
  private let pool = Locked<[EasyHandle]>([])
  private let share: SharedState
  private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

  public init(options: TransportOptions = TransportOptions()) {
    _ = Self.globalInit
    self.options = options
    share = SharedState()
  }

  deinit {
    for handle in pool.withLock({ $0 }) { curl_easy_cleanup(handle.pointer) }
  }

  public func perform(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
    let easy = pool.withLock { $0.popLast() } ?? EasyHandle(pointer: curl_easy_init()!)
    let handle = easy.pointer
    defer {
      curl_easy_reset(handle)
      pool.withLock { $0.append(easy) }
    }
    let sink = ResponseSink(segmentSize: request.bodySegmentSize, receiver: request.segmentReceiver)
    let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
    var list: UnsafeMutablePointer<curl_slist>? = nil
    // Drop curl's own defaults that S3 does not want.
    for header in ["Expect:", "Accept:", "Content-Type:"] { list = curl_slist_append(list, header) }
    for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
    defer { curl_slist_free_all(list) }

    em_setopt_str(handle, CURLOPT_URL, request.url)
    em_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
    em_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout.milliseconds))
    em_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
    em_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(options.lowSpeedTime.milliseconds / 1000)))
    em_setopt_long(
      handle, CURLOPT_TIMEOUT_MS, Int(min(options.totalTimeout, request.timeout ?? options.totalTimeout).milliseconds))
    em_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
    // Bigger reads for block GETs: fewer recv calls and write callbacks per MiB.
    if request.bodySegmentSize != nil { em_setopt_long(handle, CURLOPT_BUFFERSIZE, 512 << 10) }
    em_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
    // HTTP/1.1 over TLS too, as AWS S3 speaks it: a server that offers HTTP/2 (SeaweedFS, GCS)
    // would carry each GET in 16 KiB frames through nghttp2; a 1 GiB read 20 ms away took 1.3×
    // the time and 1.4× the CPU.
    em_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
    if let caFile = options.caFile { em_setopt_str(handle, CURLOPT_CAINFO, caFile) }
    em_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
    em_setopt_ptr(handle, CURLOPT_SHARE, share.handle)
    em_setopt_datacb(
      handle, CURLOPT_WRITEFUNCTION,
      { ptr, size, count, user in
        let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
        let n = size * count
        sink.receive(UnsafeRawBufferPointer(start: ptr, count: n))
        return n
      })
    em_setopt_ptr(handle, CURLOPT_WRITEDATA, sinkPointer)
    em_setopt_datacb(
      handle, CURLOPT_HEADERFUNCTION,
      { ptr, size, count, user in
        let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
        let n = size * count
        let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
        sink.headerLine(line)
        return n
      })
    em_setopt_ptr(handle, CURLOPT_HEADERDATA, sinkPointer)

    switch request.method {
    case "GET": break
    case "HEAD": em_setopt_long(handle, CURLOPT_NOBODY, 1)
    default: em_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method)
    }
    let code: CURLcode = request.body.withUnsafeBufferPointer { body in
      if request.method == "PUT" || request.method == "POST" {
        em_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
        em_setopt_ptr(
          handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress ?? UnsafePointer(bitPattern: 1)!))
      }
      return curl_easy_perform(handle)
    }
    guard code == CURLE_OK else { throw Self.transportError(code) }
    var status = 0
    em_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
    // Request sent (pretransfer) to the first byte of the answer, for GET and HEAD only: for a
    // PUT, even of no bytes, curl's start of transfer over TLS is its upload's start, and a
    // wait of 0 made the link look like loopback (the mount never sized itself to an HTTPS
    // link 80 ms away).
    var sent: curl_off_t = 0
    var firstByte: curl_off_t = 0
    em_getinfo_off(handle, CURLINFO_PRETRANSFER_TIME_T, &sent)
    em_getinfo_off(handle, CURLINFO_STARTTRANSFER_TIME_T, &firstByte)
    let measured = (request.method == "GET" || request.method == "HEAD") && firstByte > sent && sent >= 0
    let wait = measured ? Duration.microseconds(firstByte - sent) : nil
    var connects = 0
    em_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
    var response = HTTPResponse(
      status: status, headers: sink.headers, body: sink.body, segments: sink.segments, firstByteWait: wait)
    response.newConnection = connects > 0
    var version = 0
    em_getinfo_long(handle, CURLINFO_HTTP_VERSION, &version)
    response.protocolVersion =
      switch version {
      case Int(CURL_HTTP_VERSION_1_0): "1.0"
      case Int(CURL_HTTP_VERSION_1_1): "1.1"
      case Int(CURL_HTTP_VERSION_2_0): "2"
      case Int(CURL_HTTP_VERSION_3): "3"
      default: nil
      }
    return response
  }

  static func transportError(_ code: CURLcode) -> TransportError {
    let text = String(cString: curl_easy_strerror(code))
    let kind: TransportError.Kind
    switch code {
    case CURLE_COULDNT_CONNECT: kind = .connect
    case CURLE_OPERATION_TIMEDOUT: kind = .timeout
    case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING: kind = .reset
    case CURLE_PARTIAL_FILE: kind = .shortBody
    case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .resolve
    case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
      CURLE_SSL_CERTPROBLEM:
      kind = .tls
    default: kind = .other
    }
    return TransportError(kind: kind, message: text)
  }
}

/// A curl share object with its locks: the TLS session cache and the DNS cache of every handle
/// of one transport. curl calls the lock functions from whichever thread runs a transfer.
private final class SharedState: @unchecked Sendable {
  let handle: UnsafeMutableRawPointer?
  private let locks: UnsafeMutablePointer<pthread_mutex_t>
  private static let lockCount = Int(CURL_LOCK_DATA_LAST.rawValue) + 1

  init() {
    locks = .allocate(capacity: Self.lockCount)
    for i in 0..<Self.lockCount { pthread_mutex_init(locks + i, nil) }
    handle = curl_share_init()
    guard let handle else { return }
    em_share_setopt_ptr(handle, CURLSHOPT_USERDATA, UnsafeMutableRawPointer(locks))
    em_share_setopt_lock(handle) { _, data, _, user in
      pthread_mutex_lock(user!.assumingMemoryBound(to: pthread_mutex_t.self) + Int(data.rawValue))
    }
    em_share_setopt_unlock(handle) { _, data, user in
      pthread_mutex_unlock(user!.assumingMemoryBound(to: pthread_mutex_t.self) + Int(data.rawValue))
    }
    em_share_setopt_long(handle, CURLSHOPT_SHARE, Int(CURL_LOCK_DATA_SSL_SESSION.rawValue))
    em_share_setopt_long(handle, CURLSHOPT_SHARE, Int(CURL_LOCK_DATA_DNS.rawValue))
  }

  deinit {
    if let handle { curl_share_cleanup(handle) }
    for i in 0..<Self.lockCount { pthread_mutex_destroy(locks + i) }
    locks.deallocate()
  }
}

/// A curl easy handle; used by one thread at a time (taken from and returned to the pool).
private struct EasyHandle: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer
}

/// Collects one response; only touched by the thread running the transfer.
private final class ResponseSink {
  var body: [UInt8] = []
  var segments: [[UInt8]] = []
  var headers: [(String, String)] = []
  private let segmentSize: Int?
  private let receiver: (any SegmentReceiver)?
  private var status = 0
  /// Whether this response's body goes into segments (asked for, and the status is 2xx).
  private var segmenting = false
  /// Whether full segments go to the receiver as they arrive (it accepted the headers).
  private var delivering = false

  init(segmentSize: Int?, receiver: (any SegmentReceiver)?) {
    self.segmentSize = segmentSize.map { max(1, $0) }
    self.receiver = receiver
  }

  func receive(_ bytes: UnsafeRawBufferPointer) {
    guard segmenting, let segmentSize else {
      body.append(contentsOf: bytes)
      return
    }
    var rest = bytes[...]
    while !rest.isEmpty {
      if segments.isEmpty || segments[segments.count - 1].count == segmentSize {
        segments.append([])
        segments[segments.count - 1].reserveCapacity(segmentSize)
      }
      let last = segments.count - 1
      let take = rest.prefix(segmentSize - segments[last].count)
      segments[last].append(contentsOf: UnsafeRawBufferPointer(rebasing: take))
      rest = rest.dropFirst(take.count)
      guard delivering, let receiver else { continue }
      if segments[last].count == segmentSize {
        receiver.receive(segment: last, segments[last])
      } else {
        segments[last].withUnsafeBytes { receiver.arrived(segment: last, $0) }
      }
    }
  }

  func headerLine(_ line: String) {
    if line.hasPrefix("HTTP/") {
      headers.removeAll()  // a new response (after a 100 Continue or a redirect)
      status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
      segmenting = segmentSize != nil && (200..<300).contains(status)
      delivering = false
      return
    }
    guard let colon = line.firstIndex(of: ":") else {
      // The blank line that ends the headers.
      if segmenting, let receiver { delivering = receiver.accept(status: status, headers: headers) }
      return
    }
    let name = line[..<colon].lowercased()
    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    headers.append((name, value))
    // One allocation for the body instead of repeated growth.
    if !segmenting, name == "content-length", let length = Int(value), length > 0, length <= 256 << 20 {
      body.reserveCapacity(length)
    }
  }
}

extension Duration {
  var milliseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1000 + attoseconds / 1_000_000_000_000_000
  }
}
