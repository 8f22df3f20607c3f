import CANedge
import Cache
import Foundation
import Locking
import S3

/// The recording times of logs, read from their MF4 headers at most once per key and ETag,
/// ever: logs are immutable, and with `--cache-dir` what was read is kept on disk
/// (`HeaderRecordStore`), so a remount reads no header again.
///
/// A header costs one ranged GET of `MF4HeaderReader.firstReadSize` (a window more for each
/// part of the file further in, within `MF4HeaderReader.maxReads`). Header reads run on a pool of their own, `threads` at a time, so
/// they never take the threads that serve ordinary reads.
final class HeaderIndex: Sendable {
  private let entries: Locked<BoundedCache<String, LogTime>>
  /// Headers kept in memory; beyond it the least recently used are read again when needed.
  let limit: Int
  private let store: HeaderRecordStore?
  private let pool: WorkerPool
  /// Header reads under way: a second caller for the same log waits for the first one's.
  private let flights = FlightTable<String, LogTime>()

  /// For `.edgemount/status`.
  struct Counts: Sendable {
    /// Headers read: one ranged GET each (more when links point further in), none when the
    /// blocks were cached already.
    var read = 0
    /// Headers whose read failed or that are not MF4: placed by upload name.
    var unreadable = 0
    /// Reads under way or waiting for a thread.
    var pending = 0
    /// Records loaded from the cache folder at start-up.
    var loaded = 0
    /// Records taken from the shared index (`--shared-index`).
    var adopted = 0
  }
  private let counts = Locked(Counts())

  init(store: HeaderRecordStore?, records: [HeaderRecordStore.Record], threads: Int = 8, limit: Int = 2_000_000) {
    self.store = store
    self.limit = limit
    pool = WorkerPool(threads: threads, name: "em-headers")
    var loaded = BoundedCache<String, LogTime>(limit: limit)
    for record in records { if let time = Self.decode(record.fields) { loaded[Self.id(record.key, record.etag)] = time } }
    entries = Locked(loaded)
    counts.withLock { $0.loaded = loaded.count }
  }

  var snapshot: (counts: Counts, cached: Int) { (counts.withLock { $0 }, entries.withLock { $0.count }) }

  static func id(_ key: String, _ etag: String) -> String { etag + "\t" + key }

  /// What is known without a request: a cached header, or a file that is not MF4 by its name.
  func known(key: String, etag: String, name: LogFileName) -> LogTime? {
    if let time = entries.withLock({ $0[Self.id(key, etag)] }) { return time }
    if name.fileExtension.uppercased() != "MF4" {
      return LogTime(unreadable: "\(name.fileExtension) files are compressed or encrypted: the header cannot be read")
    }
    return nil
  }

  /// The log's time, reading its header if it is not known yet. A header that says it is not
  /// one (`MF4HeaderError`) is kept like any other; a failed request is kept nowhere, so an
  /// outage does not place logs by upload name for good. `cached` gives a range's bytes when
  /// the block cache already holds them (no GET then).
  func time(
    key: String, etag: String, size: UInt64, name: LogFileName, s3: S3Client,
    cached: @escaping (Range<UInt64>) -> [UInt8]? = { _ in nil }
  ) -> LogTime {
    if let time = known(key: key, etag: etag, name: name) { return time }
    return flights.outcome(for: Self.id(key, etag)) { read(key: key, etag: etag, size: size, s3: s3, cached: cached) }
  }

  private func read(
    key: String, etag: String, size: UInt64, s3: S3Client, cached: @escaping (Range<UInt64>) -> [UInt8]?
  ) -> LogTime {
    counts.withLock { $0.pending += 1 }
    defer { counts.withLock { $0.pending -= 1 } }
    var reader = MF4HeaderReader(fileSize: size) { range in
      if let bytes = cached(range) { return bytes }
      return try s3.getObject(key: key, range: range, ifMatch: etag.isEmpty ? nil : etag, objectSize: size)
    }
    let time: LogTime
    do {
      time = LogTime(header: try reader.read())
      counts.withLock { $0.read += 1 }
      store?.append(HeaderRecordStore.Record(key: key, etag: etag, fields: Self.encode(time)))
    } catch let error as MF4HeaderError {
      // The file itself says it has no readable header: that never changes for this ETag.
      let unreadable = LogTime(unreadable: error.description)
      counts.withLock {
        $0.read += 1
        $0.unreadable += 1
      }
      store?.append(HeaderRecordStore.Record(key: key, etag: etag, fields: Self.encode(unreadable)))
      time = unreadable
    } catch {
      counts.withLock { $0.unreadable += 1 }
      return LogTime(unreadable: "the header could not be read: \(error)")
    }
    entries.withLock { $0[Self.id(key, etag)] = time }
    return time
  }

  /// The stored fields of a log's header, if it was read (or adopted) for this ETag.
  func record(key: String, etag: String) -> [String]? {
    entries.withLock { $0[Self.id(key, etag)] }.map(Self.encode)
  }

  /// Takes a record read by another mount (the shared index) unless this one knows the log
  /// already; kept in the cache folder like a header read here. False if the fields do not decode.
  @discardableResult
  func adopt(key: String, etag: String, fields: [String]) -> Bool {
    guard let time = Self.decode(fields) else { return false }
    let id = Self.id(key, etag)
    let added = entries.withLock { entries -> Bool in
      guard entries[id] == nil else { return false }
      entries[id] = time
      return true
    }
    guard added else { return true }
    counts.withLock { $0.adopted += 1 }
    store?.append(HeaderRecordStore.Record(key: key, etag: etag, fields: fields))
    return true
  }

  /// Runs `jobs` on the header pool, at most `threads` at once, and waits for all of them.
  func parallel<T: Sendable>(_ jobs: [@Sendable () -> T]) -> [T] {
    guard jobs.count > 1 else { return jobs.map { $0() } }
    let results = Locked<[Int: T]>([:])
    let group = DispatchGroup()
    for (i, job) in jobs.enumerated() {
      group.enter()
      pool.submit {
        let value = job()
        results.withLock { $0[i] = value }
        group.leave()
      }
    }
    group.wait()
    let values = results.withLock { $0 }
    return (0..<jobs.count).map { values[$0]! }
  }

  // MARK: Records on disk

  /// `h|s|u`, session start, first record, offset minutes, failure, then comment name/value pairs.
  static func encode(_ time: LogTime) -> [String] {
    let kind: String
    switch time.source {
    case .header: kind = "h"
    case .sessionStart: kind = "s"
    case .uploadName: kind = "u"
    }
    var fields = [
      kind, time.sessionStart.map(String.init) ?? "", time.firstRecord.map(String.init) ?? "", String(time.offsetMinutes),
      time.failure ?? "",
    ]
    for (name, value) in time.comment.sorted(by: { $0.key < $1.key }) { fields += [name, value] }
    return fields
  }

  static func decode(_ fields: [String]) -> LogTime? {
    guard fields.count >= 5, fields.count % 2 == 1, let offset = Int(fields[3]), abs(offset) <= 24 * 60 else { return nil }
    var time: LogTime
    switch fields[0] {
    case "h", "s":
      guard let start = UInt64(fields[1]) else { return nil }
      let first = fields[2].isEmpty ? nil : UInt64(fields[2])
      guard (fields[0] == "h") == (first != nil) else { return nil }
      time = LogTime(sessionStart: start, firstRecord: first, offsetMinutes: offset)
    case "u":
      time = LogTime(unreadable: fields[4])
    default:
      return nil
    }
    var i = 5
    while i + 1 < fields.count {
      time.comment[fields[i]] = fields[i + 1]
      i += 2
    }
    return time
  }
}
