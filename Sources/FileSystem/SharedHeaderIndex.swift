import Cache
import Foundation
import Locking
import S3

/// The shared header index (`--shared-index`): header records published in the bucket, one
/// object per session (`SharedIndexObject`), so that a mount lists a day another mount listed
/// with a few GETs of index objects instead of a ranged GET per header.
///
/// - Before a header of a session is read, the session's object is read (once per
///   `--list-ttl`), and its records for the listed ETags are taken into the `HeaderIndex`.
/// - After a `.by-date/` placement read headers the object lacked, the object is merged and
///   written back on a pool of its own, never on the path of the listing: a conditional PUT
///   (`If-Match` the ETag read, `If-None-Match: *` when there was none), and on 412 read,
///   merged and written again.
/// - A malformed object, or one of a later layout, is skipped with a line in
///   `.edgemount/errors`; a malformed one is replaced at the next merge, a later layout's never.
/// - A read-only mount reads the index and never writes it.
final class SharedHeaderIndex: CorePart, Sendable {
  /// One session's object as read: kept only while it is used (its records go into the
  /// header index at once; a merge reads the object again).
  struct Fetched: Sendable {
    /// nil: no such object.
    var etag: String?
    var object: SharedIndexObject
    /// Written by a later layout: never overwritten.
    var laterLayout = false
  }

  struct Counts: Sendable {
    var gets = 0
    var puts = 0
    /// PUTs refused with 412: another mount wrote first; merged and tried again.
    var conflicts = 0
    /// Objects skipped: malformed or of a later layout.
    var skipped = 0
    var failures = 0
    /// Merges waiting or under way.
    var pending = 0
  }

  let headers: HeaderIndex
  let context: CoreContext
  let writable: Bool
  /// `edited-by` of the index objects' PUTs.
  let metadata: [String: String]
  /// When each session's object was last read, by session prefix (bounded: a session dropped
  /// from it is read again when next needed).
  private let readAt = Locked(BoundedCache<String, ContinuousClock.Instant>(limit: 65_536))
  /// Sessions with headers read here since their object was last merged.
  private let unpublished = Locked(Set<String>())
  private let counts = Locked(Counts())
  /// Set when the bucket answers 403 to the index's GETs or PUTs: the policy does not allow
  /// `.edgemount-index/` to this mount, so it stops asking (said once, in the log and errors).
  private let refused = Locked<(reads: Bool, writes: Bool)>((false, false))
  private let flights = FlightTable<String, Bool>()
  private let writer = WorkerPool(threads: 2, name: "em-index", queueLimit: 4096)
  /// Times a merge is tried before it is left to the next placement.
  static let attempts = 5

  init(headers: HeaderIndex, metadata: [String: String], context: CoreContext) {
    self.headers = headers
    self.metadata = metadata
    self.context = context
    writable = !context.settings.readOnly
  }

  var snapshot: Counts { counts.withLock { $0 } }

  /// `ROOT DEVICE/SESSION/` of a log's key.
  static func sessionPrefix(ofKey key: String) -> String? {
    guard let slash = key.lastIndex(of: "/") else { return nil }
    return String(key[...slash])
  }

  /// Makes sure the session's object was read within `--list-ttl`, taking its records into
  /// the header index. Called before a header of the session is read. One read at a time per
  /// session; a failed read only means the headers are read.
  func load(sessionPrefix: String) {
    if refused.withLock({ $0.reads }) { return }
    let now = clock.instant()
    if readAt.withLock({ $0[sessionPrefix].map { now - $0 < settings.listTTL } ?? false }) { return }
    _ = flights.outcome(for: sessionPrefix) { () -> Bool in
      if readAt.withLock({ $0[sessionPrefix].map { clock.instant() - $0 < settings.listTTL } ?? false }) { return true }
      guard let fetched = fetch(sessionPrefix) else { return false }
      for (name, record) in fetched.object.records {
        headers.adopt(key: sessionPrefix + name, etag: record.etag, fields: record.fields)
      }
      return true
    }
  }

  /// Reads the session's object; nil if the read failed.
  private func fetch(_ sessionPrefix: String) -> Fetched? {
    let key = SharedIndexObject.key(rootPrefix: settings.rootPrefix, sessionPrefix: sessionPrefix)
    counts.withLock { $0.gets += 1 }
    let found: (bytes: [UInt8], etag: String)?
    do {
      found = try s3.getSmallObject(key: key, limit: SharedIndexObject.maxBytes)
    } catch {
      failed(error, reading: true, key)
      return nil
    }
    var fetched = Fetched(etag: found?.etag, object: SharedIndexObject(records: [:]))
    if let found {
      do throws(SharedIndexObject.ParseError) {
        fetched.object = try SharedIndexObject.parse(found.bytes) { HeaderIndex.decode($0) != nil }
      } catch {
        counts.withLock { $0.skipped += 1 }
        if case .newerLayout = error { fetched.laterLayout = true }
        errors.append("shared index \(key): \(error); skipped, its headers are read")
      }
    }
    let now = clock.instant()
    readAt.withLock { $0[sessionPrefix] = now }
    return fetched
  }

  /// Notes that a header of the session was read here, for the next `publish`.
  func noteRead(sessionPrefix: String) {
    guard writable else { return }
    unpublished.withLock { _ = $0.insert(sessionPrefix) }
  }

  /// Merges what this mount knows of the session's listed logs (name → key and ETag) into
  /// its object, if headers were read here since the last merge. Runs on the index's own
  /// threads; the caller does not wait.
  func publish(sessionPrefix: String, listed: [(name: String, key: String, etag: String)]) {
    guard writable, !refused.withLock({ $0.writes }), unpublished.withLock({ $0.remove(sessionPrefix) != nil }) else {
      return
    }
    counts.withLock { $0.pending += 1 }
    writer.submit { [self] in
      merge(sessionPrefix, listed)
      counts.withLock { $0.pending -= 1 }
    }
  }

  private func merge(_ sessionPrefix: String, _ listed: [(name: String, key: String, etag: String)]) {
    let key = SharedIndexObject.key(rootPrefix: settings.rootPrefix, sessionPrefix: sessionPrefix)
    var ours: [String: HeaderRecordStore.Record] = [:]
    var etags: [String: String] = [:]
    for log in listed {
      etags[log.name] = log.etag
      if let fields = headers.record(key: log.key, etag: log.etag) {
        ours[log.name] = HeaderRecordStore.Record(key: log.name, etag: log.etag, fields: fields)
      }
    }
    for _ in 0..<Self.attempts {
      // Refused meanwhile (by a merge of another session): nothing more is written.
      if refused.withLock({ $0.writes }) { return }
      // The object as it is now: another mount may have merged since this one read it.
      guard let current = fetch(sessionPrefix) else { return }
      if current.laterLayout { return }
      let merged = current.object.merged(with: ours, listed: etags)
      if merged == current.object { return }
      let condition: PutCondition = current.etag.map { $0.isEmpty ? .none : .ifMatch($0) } ?? .ifNoneMatch
      do {
        _ = try s3.put(
          key: key, body: merged.rendered(), contentType: "text/plain; charset=utf-8", metadata: metadata,
          condition: condition)
        counts.withLock { $0.puts += 1 }
        return
      } catch  where error.isPreconditionFailed || error.status == 409 || error.isNotFound {
        // Another mount wrote (or removed) the object since it was read: read it again and
        // merge into that. (If-Match on a key that is gone is a 404 on AWS.)
        counts.withLock { $0.conflicts += 1 }
      } catch {
        failed(error, reading: false, key)
        return
      }
    }
    logger.notice("shared index: \(key) still changing after \(Self.attempts) merges; left to the next listing")
  }

  /// A failed GET or PUT of an index object: counted; a 403 stops that kind of request for good
  /// (said once), anything else is logged and tried again at the next listing.
  private func failed(_ error: S3Error, reading: Bool, _ key: String) {
    counts.withLock { $0.failures += 1 }
    guard error.status == 403 else {
      logger.warning("shared index: \(key) could not be \(reading ? "read" : "written"): \(error)")
      return
    }
    refuse(
      reads: reading,
      reading
        ? "the bucket refuses GET of \(key) (\(error)): the shared index is not used"
        : "the bucket refuses PUT of \(key) (\(error)): this mount reads the shared index only")
  }

  /// Stops reading (`reads`) or writing the index for good, saying why once.
  private func refuse(reads: Bool, _ why: String) {
    let first = refused.withLock { r -> Bool in
      let was = reads ? r.reads : r.writes
      if reads { r.reads = true } else { r.writes = true }
      return !was
    }
    guard first else { return }
    logger.notice("shared index: \(why)")
    errors.append("shared index: \(why)")
  }

  /// Waits until no merge is waiting or under way, up to `timeout` (at unmount).
  func drain(timeout: Duration) {
    let deadline = ContinuousClock.now + timeout
    while counts.withLock({ $0.pending > 0 }), ContinuousClock.now < deadline { usleep(10_000) }
  }
}
