import Locking

/// Device files (config, device.json, schema, certificates) fetched ahead far from S3.
/// `rsync` and `cp -r` open a device folder's files one after another, and each open of a
/// device file fetches it whole, a round trip each: 80 ms away, three of them in a row before
/// the first log. Opening one fetches the next few at once; an open within a second of a
/// copy's fetch, whose ETag the listing still shows, takes that copy (once) instead of a GET of
/// its own. An open while the copy is still coming waits for it.
final class DeviceFilesAhead: Sendable {
  struct Copy: Sendable {
    var bytes: [UInt8]
    var etag: String
    /// When its GET was sent: its age counts from there.
    var sentAt: ContinuousClock.Instant
  }

  private enum Entry: Sendable {
    case coming(Flight<Copy?>, sentAt: ContinuousClock.Instant)
    case here(Copy)
    /// An open took the copy: the opens of the folder's next files do not fetch it again.
    case taken(sentAt: ContinuousClock.Instant)
  }

  /// How old a copy may be when an open takes it: the kernel keeps a config's attributes as
  /// long (SEMANTICS.md § Consistency and caching).
  static let freshFor: Duration = .seconds(1)
  /// Files fetched ahead at each open, and the largest fetched (a firmware image is not).
  static let maxFiles = 8
  static let maxBytes = 1 << 20

  private let entries = Locked<[UInt64: Entry]>([:])
  private let clock: any MountClock

  init(clock: any MountClock) { self.clock = clock }

  /// Marks `ino` as coming, unless a fresh copy is here or coming: the flight to finish, or
  /// nil when there is nothing to fetch.
  func begin(_ ino: UInt64) -> Flight<Copy?>? {
    let now = clock.instant()
    return entries.withLock { e -> Flight<Copy?>? in
      Self.prune(&e, now: now)
      guard e[ino] == nil else { return nil }
      let flight = Flight<Copy?>()
      e[ino] = .coming(flight, sentAt: now)
      return flight
    }
  }

  /// The fetch of `ino` ended (nil: it failed; the open fetches for itself).
  func finish(_ ino: UInt64, _ flight: Flight<Copy?>, _ copy: Copy?) {
    entries.withLock { e in
      if case .coming(let f, _)? = e[ino], f === flight { e[ino] = copy.map { .here($0) } }
    }
    flight.finish(copy)
  }

  /// The copy of `ino` for an open, taken: waited for if it is coming; nil if there is none,
  /// it is older than `freshFor`, or the listing shows another ETag (a save or a new upload
  /// since).
  func take(_ ino: UInt64, listedETag: String) -> Copy? {
    let now = clock.instant()
    let entry = entries.withLock { e -> Entry? in
      Self.prune(&e, now: now)
      // An open that fetches for itself counts as taken too: the next opens leave it be.
      guard let entry = e[ino] else {
        e[ino] = .taken(sentAt: now)
        return nil
      }
      switch entry {
      case .coming(_, let sentAt): e[ino] = .taken(sentAt: sentAt)
      case .here(let copy): e[ino] = .taken(sentAt: copy.sentAt)
      case .taken: break
      }
      return entry
    }
    let copy: Copy?
    switch entry {
    case .coming(let flight, _)?: copy = flight.wait()
    case .here(let c)?: copy = c
    case .taken?, nil: return nil
    }
    guard let copy, clock.instant() - copy.sentAt < Self.freshFor, copy.etag == listedETag else { return nil }
    return copy
  }

  /// Stale entries go, so the table never holds more than the last second's few files.
  private static func prune(_ e: inout [UInt64: Entry], now: ContinuousClock.Instant) {
    e = e.filter { _, entry in
      switch entry {
      case .coming(_, let sentAt): now - sentAt < Self.freshFor * 30
      case .here(let copy): now - copy.sentAt < Self.freshFor
      case .taken(let sentAt): now - sentAt < Self.freshFor
      }
    }
  }

  /// Drops the copy of `ino` (its file is being changed here).
  func drop(_ ino: UInt64) { _ = entries.withLock { $0.removeValue(forKey: ino) } }

  /// Copies here or coming (not those taken).
  var count: Int {
    entries.withLock { e in
      e.values.filter {
        if case .taken = $0 { return false }
        return true
      }.count
    }
  }
}
