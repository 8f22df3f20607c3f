import CANedge
import Cache
import Foundation
import Locking
import S3

/// `--decode`: compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`) shown as the MF4 inside,
/// named `.MF4`, so MF4 readers open them through the mount.
///
/// - A log is shown decoded when it can be: compressed ones always, encrypted ones when
///   `--passwords` has a password for the device (its folder). Others are shown as stored.
/// - The decoded size is exact in `stat`: an MFE's from its object size (ciphertext and
///   plaintext are as long); an MFC's or MFM's by decoding the whole log once per key and ETag,
///   when its session is listed (4 at a time), kept with the header records in `--cache-dir`.
/// - A log is decoded whole at open, from its blocks (through the block cache, so the disk
///   cache keeps the compressed bytes), and the decoded bytes are kept in memory, at most
///   `budget` bytes of them (least recently used dropped; one larger log is kept alone).
///   An encrypted log is served only when its GCM tag holds. A log that cannot be decoded
///   (damaged, a wrong password) reads EIO, with the reason in `.edgemount/errors`.
final class DecodedLogs: CorePart, Sendable {
  /// What a decode gave: the decoded size, or why there is none.
  enum Outcome: Sendable, Equatable {
    case size(UInt64)
    case failed(String)
  }

  static let budget = 256 << 20
  /// Larger decoded logs are refused (a hostile log could otherwise claim gigabytes).
  static let maxDecodedSize = 1 << 30
  /// Marks a decoded size among the header records of `--cache-dir`.
  static let recordTag = "decoded-size:"

  let fetcher: BlockFetcher
  let passwords: DevicePasswords?
  let store: HeaderRecordStore?
  let context: CoreContext
  private let outcomes: Locked<BoundedCache<String, Outcome>>
  /// The stored size of each log shown decoded, as listed (the node holds the decoded size).
  private let storedSizes = Locked(BoundedCache<String, UInt64>(limit: 1_000_000))
  private struct Contents: Sendable {
    var bytes: [String: [UInt8]] = [:]
    var order: [String] = []
    var total = 0
  }
  private let contents = Locked(Contents())
  private let flights = FlightTable<String, Result<[UInt8], FSError>>()
  private let pool = WorkerPool(threads: 4, name: "em-decode")

  init(
    fetcher: BlockFetcher, passwords: DevicePasswords?, store: HeaderRecordStore?, records: [HeaderRecordStore.Record],
    context: CoreContext
  ) {
    self.fetcher = fetcher
    self.passwords = passwords
    self.store = store
    self.context = context
    var known = BoundedCache<String, Outcome>(limit: 1_000_000)
    for record in records where record.etag.hasPrefix(Self.recordTag) {
      if record.fields.count == 2, record.fields[0] == "size", let size = UInt64(record.fields[1]) {
        known[Self.id(record.key, String(record.etag.dropFirst(Self.recordTag.count)))] = .size(size)
      }
    }
    outcomes = Locked(known)
  }

  static func id(_ key: String, _ etag: String) -> String { etag + "\t" + key }

  /// The name a decoded log is shown under: its extension made `MF4`.
  static func decodedName(_ name: String) -> String {
    guard let dot = name.lastIndex(of: ".") else { return name }
    return name[..<dot] + ".MF4"
  }

  /// Whether the stored log `key` is shown decoded: a container (`HeaderIndex.Format`),
  /// compressed, or encrypted by a device `--passwords` has a password for. Asked when a
  /// session is listed; afterwards a node's name says it (`isDecoded`).
  func showsDecoded(key: String) -> Bool {
    guard let name = LogFileName(String(key.split(separator: "/").last ?? "")),
      case .container(let encrypted) = HeaderIndex.Format(name)
    else { return false }
    guard encrypted else { return true }
    let device = key.dropFirst(settings.rootPrefix.count).split(separator: "/").first.map(String.init) ?? ""
    return passwords?.password(for: device) != nil
  }

  /// Whether a node of the tree is a decoded log: the listing named it `.MF4` while its key
  /// names a container. Derived from the node alone, so opens and placements (some under the
  /// tree's lock) ask no password file.
  func isDecoded(_ node: Node) -> Bool {
    guard node.kind == .object(.log), !node.key.hasSuffix("/" + node.name),
      let name = LogFileName(ByDateView.storedName(node))
    else { return false }
    if case .container = HeaderIndex.Format(name) { return true }
    return false
  }

  /// The decoded sizes of the logs among `objects` that are shown decoded, decoding (4 at a
  /// time) those whose size is not known yet. Keyed by object key.
  func sizes(of objects: [ListedObject]) -> [String: Outcome] {
    let shown = objects.filter { showsDecoded(key: $0.key) }
    guard !shown.isEmpty else { return [:] }
    storedSizes.withLock { for object in shown { $0[Self.id(object.key, object.etag)] = object.size } }
    var out: [String: Outcome] = [:]
    let group = DispatchGroup()
    let found = Locked<[String: Outcome]>([:])
    for object in shown {
      if let known = outcomes.withLock({ $0[Self.id(object.key, object.etag)] }) {
        out[object.key] = known
        continue
      }
      if object.key.uppercased().hasSuffix(".MFE") {
        // Counter mode: the plaintext is as long as the ciphertext between header and tag.
        let size = object.size >= 68 ? object.size - 68 : 0
        out[object.key] = .size(size)
        continue
      }
      group.enter()
      pool.submit { [self] in
        let outcome: Outcome
        do throws(FSError) {
          outcome = .size(UInt64(try content(key: object.key, etag: object.etag, size: object.size).count))
        } catch {
          outcome = .failed("\(error)")
        }
        found.withLock { $0[object.key] = outcome }
        group.leave()
      }
    }
    group.wait()
    return out.merging(found.withLock { $0 }) { a, _ in a }
  }

  /// The stored size of a log shown decoded, as listed (nil if no longer known).
  func storedSize(of node: Node) -> UInt64? {
    guard isDecoded(node) else { return nil }
    return storedSizes.withLock { $0[Self.id(node.key, node.etag)] }
  }

  /// The decoded bytes of a log shown decoded (its stored size as listed, or from a HEAD).
  func content(of node: Node) throws(FSError) -> [UInt8] {
    var size = storedSizes.withLock { $0[Self.id(node.key, node.etag)] }
    if size == nil {
      do { size = try s3.headObject(key: node.key).size } catch { throw FSError(error) }
    }
    return try content(key: node.key, etag: node.etag, size: size!)
  }

  /// The decoded bytes of a stored log, decoding it if they are not in memory. A log that
  /// cannot be decoded is EIO, with the reason in `.edgemount/errors`.
  func content(key: String, etag: String, size: UInt64) throws(FSError) -> [UInt8] {
    let id = Self.id(key, etag)
    if let bytes = cached(id) { return bytes }
    let result = flights.outcome(for: id) { () -> Result<[UInt8], FSError> in
      if let bytes = cached(id) { return .success(bytes) }
      do throws(FSError) {
        let bytes = try decode(key: key, etag: etag, size: size)
        keep(id, bytes)
        record(id, key: key, etag: etag, .size(UInt64(bytes.count)))
        return .success(bytes)
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  private func decode(key: String, etag: String, size: UInt64) throws(FSError) -> [UInt8] {
    // The stored bytes through the block cache: one grouped fetch, then block by block.
    let ids = (0..<BlockID.count(for: size)).map { BlockID(key: key, etag: etag, index: $0) }
    fetcher.prefetch(ids, objectSize: size)
    var raw: [UInt8] = []
    raw.reserveCapacity(Int(size))
    for id in ids { raw += try fetcher.block(id, objectSize: size) }
    do {
      return try LogContainer.decode(raw, password: { [passwords] in passwords?.password(for: $0) }, limit: Self.maxDecodedSize)
    } catch {
      let line = "decode \(key): \(error.description)"
      errors.append(line)
      logger.warning("\(line)")
      record(Self.id(key, etag), key: key, etag: etag, .failed(error.description))
      throw .undecodable(error.description)
    }
  }

  private func record(_ id: String, key: String, etag: String, _ outcome: Outcome) {
    let previous = outcomes.withLock { o -> Outcome? in
      defer { o[id] = outcome }
      return o[id]
    }
    // Sizes are kept in the cache folder; failures are not (a password file may be mended).
    if case .size(let size) = outcome, previous != outcome {
      store?.append(HeaderRecordStore.Record(key: key, etag: Self.recordTag + etag, fields: ["size", String(size)]))
    }
  }

  private func cached(_ id: String) -> [UInt8]? {
    contents.withLock { c in
      guard let bytes = c.bytes[id] else { return nil }
      if let i = c.order.firstIndex(of: id) { c.order.remove(at: i) }
      c.order.append(id)
      return bytes
    }
  }

  private func keep(_ id: String, _ bytes: [UInt8]) {
    contents.withLock { c in
      c.bytes[id] = bytes
      c.order.append(id)
      c.total += bytes.count
      while c.total > Self.budget, c.order.count > 1 {
        let victim = c.order.removeFirst()
        c.total -= c.bytes.removeValue(forKey: victim)?.count ?? 0
      }
    }
  }

  /// Decoded bytes held, for `.edgemount/status`.
  var heldBytes: Int { contents.withLock { $0.total } }
}
