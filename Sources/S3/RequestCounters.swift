import Locking

/// Counts of S3 requests by kind, and bytes moved, since the mount started.
public struct RequestCounts: Sendable, Equatable {
  public var get = 0
  public var head = 0
  public var list = 0
  public var put = 0
  public var delete = 0
  /// Requests about the bucket itself, not its objects (GetBucketVersioning at mount).
  public var bucketConfig = 0
  public var retries = 0
  /// Requests that failed for real: server errors, network failures, refusals of access.
  public var failures = 0
  /// Expected answers, not failures: 404 (no such object: a device without device.json)...
  public var notFound = 0
  /// ... and 412 (a conditional request whose condition no longer holds: a lost-update check).
  public var preconditionFailed = 0
  /// Requests that opened a connection (TCP, and TLS over HTTPS) instead of reusing one.
  public var connectionsOpened = 0
  public var bytesDownloaded: UInt64 = 0
  public var bytesUploaded: UInt64 = 0

  public init() {}
}

/// Thread-safe request counters shared by every user of one `S3Client`.
public final class RequestCounters: Sendable {
  private let counts = Locked(RequestCounts())

  public init() {}

  public var snapshot: RequestCounts { counts.withLock { $0 } }

  func record(_ update: (inout RequestCounts) -> Void) {
    counts.withLock { update(&$0) }
  }
}
