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
  /// The passwords of devices that encrypt their logs (`--passwords`), for MFE and MFM headers.
  let passwords: DevicePasswords?
  private let pool: WorkerPool
  /// The pool's threads, all used when the link is far; `nearThreads` of them otherwise.
  let threads: Int
  static let nearThreads = 8
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

  init(
    store: HeaderRecordStore?, records: [HeaderRecordStore.Record], passwords: DevicePasswords? = nil, threads: Int = 64,
    limit: Int = 2_000_000
  ) {
    self.store = store
    self.passwords = passwords
    self.limit = limit
    self.threads = threads
    pool = WorkerPool(threads: threads, name: "em-headers")
    var loaded = BoundedCache<String, LogTime>(limit: limit)
    for record in records { if let time = Self.decode(record.fields) { loaded[Self.id(record.key, record.etag)] = time } }
    entries = Locked(loaded)
    counts.withLock { $0.loaded = loaded.count }
  }

  var snapshot: (counts: Counts, cached: Int) { (counts.withLock { $0 }, entries.withLock { $0.count }) }

  static func id(_ key: String, _ etag: String) -> String { etag + "\t" + key }

  /// The kind of log a name says: an MF4, a container (`.MFC`, `.MFE`, `.MFM`), or neither.
  enum Format: Equatable {
    case mf4
    case container(encrypted: Bool)
    case other

    init(_ name: LogFileName) {
      switch name.fileExtension.uppercased() {
      case "MF4": self = .mf4
      case "MFC": self = .container(encrypted: false)
      case "MFE", "MFM": self = .container(encrypted: true)
      default: self = .other
      }
    }
  }

  /// What is known without a request: a cached header, a file that is not a log by its name,
  /// or an encrypted log without a password to read it with.
  func known(key: String, etag: String, name: LogFileName) -> LogTime? {
    if let time = entries.withLock({ $0[Self.id(key, etag)] }) { return time }
    switch Format(name) {
    case .mf4, .container(encrypted: false): return nil
    case .container(encrypted: true):
      if passwords == nil {
        return LogTime(
          unreadable: "\(name.fileExtension) files are encrypted: the header needs the device's password (--passwords)")
      }
      return nil
    case .other:
      return LogTime(unreadable: "\(name.fileExtension) files are not MF4 logs: no header to read")
    }
  }

  /// The log's time, reading its header if it is not known yet. A header that says it is not
  /// one (`MF4HeaderError`) is kept like any other; a failed request is kept nowhere, so an
  /// outage does not place logs by upload name for good. `cached` gives a range's bytes when
  /// the block cache already holds them (no GET then).
  func time(
    key: String, etag: String, size: UInt64, name: LogFileName, s3: S3Client,
    cached: @escaping (Range<UInt64>) -> [UInt8]? = { _ in nil },
    fetched: @escaping (Range<UInt64>, [UInt8]) -> Void = { _, _ in }
  ) -> LogTime {
    if let time = known(key: key, etag: etag, name: name) { return time }
    return flights.outcome(for: Self.id(key, etag)) {
      read(key: key, etag: etag, size: size, name: name, s3: s3, cached: cached, fetched: fetched)
    }
  }

  /// `fetched` is given every range read from S3, so bytes a header read fetched (a small
  /// log whole) are not fetched again when the log is copied.
  private func read(
    key: String, etag: String, size: UInt64, name: LogFileName, s3: S3Client,
    cached: @escaping (Range<UInt64>) -> [UInt8]?, fetched: @escaping (Range<UInt64>, [UInt8]) -> Void
  ) -> LogTime {
    counts.withLock { $0.pending += 1 }
    defer { counts.withLock { $0.pending -= 1 } }
    let fetch: (Range<UInt64>) throws -> [UInt8] = { range in
      if let bytes = cached(range) { return bytes }
      let bytes = try s3.getObject(key: key, range: range, ifMatch: etag.isEmpty ? nil : etag, objectSize: size)
      if bytes.count == range.count { fetched(range, bytes) }
      return bytes
    }
    let format = Format(name)
    let time: LogTime
    do {
      var reader: MF4HeaderReader
      if case .container = format {
        // The MF4 inside, decoded from a prefix of the object (ContainerPrefixReader's bounds).
        let prefix = ContainerPrefixReader(
          objectSize: size, password: { [passwords] in passwords?.password(for: $0) }, fetch: fetch)
        _ = try prefix.bytes(0..<UInt64(MF4HeaderReader.firstReadSize))
        let decodedBound = prefix.complete ? UInt64(prefix.decodedSize) : size * UInt64(LogContainer.maxExpansion) + (1 << 20)
        reader = MF4HeaderReader(fileSize: decodedBound) { try prefix.bytes($0) }
      } else {
        reader = MF4HeaderReader(fileSize: size, fetch: fetch)
      }
      time = LogTime(header: try reader.read())
      counts.withLock { $0.read += 1 }
      store?.append(HeaderRecordStore.Record(key: key, etag: etag, fields: Self.encode(time)))
    } catch {
      let permanent: String
      switch error {
      case let failure as MF4HeaderError where format == .container(encrypted: true):
        // Decrypted with a wrong password, the bytes are noise: said, never kept (the
        // password file may be mended).
        counts.withLock { $0.unreadable += 1 }
        return LogTime(unreadable: "no MF4 header inside the encrypted log: a wrong password? (\(failure.description))")
      case let failure as MF4HeaderError: permanent = failure.description
      case let failure as LogContainer.Failure where format == .container(encrypted: false): permanent = failure.description
      case let failure as LogContainer.Failure:
        counts.withLock { $0.unreadable += 1 }
        return LogTime(unreadable: failure.description)
      default:
        counts.withLock { $0.unreadable += 1 }
        return LogTime(unreadable: "the header could not be read: \(error)")
      }
      // The file itself says it has no readable header: that never changes for this ETag.
      let unreadable = LogTime(unreadable: permanent)
      counts.withLock {
        $0.read += 1
        $0.unreadable += 1
      }
      store?.append(HeaderRecordStore.Record(key: key, etag: etag, fields: Self.encode(unreadable)))
      time = unreadable
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

  /// Runs `jobs` on the header pool and waits for all of them: `near` at once on a link with a
  /// short round trip, all the pool's threads when the link is far (`far`), where each job
  /// mostly waits for its answers.
  func parallel<T: Sendable>(_ jobs: [@Sendable () -> T], far: Bool = false) -> [T] {
    guard jobs.count > 1 else { return jobs.map { $0() } }
    let results = Locked<[Int: T]>([:])
    let group = DispatchGroup()
    pool.limitRunning(to: far ? threads : Self.nearThreads)
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
