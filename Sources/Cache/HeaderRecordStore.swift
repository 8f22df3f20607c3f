import Foundation
import Locking

/// What was read from logs' headers, kept on disk in the cache folder (`--cache-dir`) so that a
/// remount reads no header twice: logs are immutable, so a record for a key and ETag never
/// goes stale.
///
/// One append-only file, `headers-v1.tsv`: a line per record, `ETAG \t KEY \t FIELD…`, every
/// byte below 0x20, `%` and 0x7F percent-escaped. Each record is one `write(2)` of a whole line.
/// A line that does not end in a newline (a crash mid-write) or does not parse is skipped at
/// load, never half-used. The file is rewritten without duplicates when it holds more than
/// twice the records that are live.
public final class HeaderRecordStore: Sendable {
  public let path: String
  private struct State: Sendable {
    var fd: Int32
    var lines: Int
  }
  private let state: Locked<State>

  /// One record: the object's key and ETag and the fields the caller stored.
  public struct Record: Sendable, Equatable {
    public var key: String
    public var etag: String
    public var fields: [String]

    public init(key: String, etag: String, fields: [String]) {
      self.key = key
      self.etag = etag
      self.fields = fields
    }
  }

  /// Opens (creating) `directory/headers-v1.tsv` and returns it with the records it holds,
  /// the last of each key and ETag.
  public static func open(directory: String) throws -> (HeaderRecordStore, [Record]) {
    try FileManager.default.createDirectory(
      atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let path = directory + "/headers-v1.tsv"
    var records: [Record] = []
    var lines = 0
    if let data = FileManager.default.contents(atPath: path) {
      var seen: [String: Int] = [:]
      var start = data.startIndex
      while let newline = data[start...].firstIndex(of: 0x0A) {
        lines += 1
        if let record = Self.parse(data[start..<newline]) {
          let id = record.etag + "\t" + record.key
          if let i = seen[id] {
            records[i] = record
          } else {
            seen[id] = records.count
            records.append(record)
          }
        }
        start = newline + 1
      }
    }
    let store = try HeaderRecordStore(path: path, lines: lines)
    if lines > 2 * records.count + 1000 { store.rewrite(records) }
    return (store, records)
  }

  private init(path: String, lines: Int) throws {
    let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw DiskBlockCache.Unusable(description: "cannot write \(path): \(String(cString: strerror(errno)))")
    }
    self.path = path
    state = Locked(State(fd: fd, lines: lines))
  }

  deinit { state.withLock { _ = close($0.fd) } }

  /// Appends a record (one write of one line); a failed write only costs a re-read later.
  public func append(_ record: Record) {
    let line = Array(Self.line(record).utf8)
    state.withLock { s in
      _ = line.withUnsafeBytes { write(s.fd, $0.baseAddress, $0.count) }
      s.lines += 1
    }
  }

  /// Replaces the file with exactly `records` (written aside, then renamed into place).
  private func rewrite(_ records: [Record]) {
    let temporary = path + ".tmp"
    let text = records.map(Self.line).joined()
    guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]),
      rename(temporary, path) == 0
    else { return }
    let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
    guard fd >= 0 else { return }
    state.withLock { s in
      _ = close(s.fd)
      s.fd = fd
      s.lines = records.count
    }
  }

  /// One record as a line of the file (also the line format of the shared index objects).
  public static func line(_ record: Record) -> String {
    ([record.etag, record.key] + record.fields).map(escape).joined(separator: "\t") + "\n"
  }

  /// A line (without its newline) back as a record; nil if it does not parse.
  public static func parse(_ bytes: Data) -> Record? {
    let columns = bytes.split(separator: 0x09, omittingEmptySubsequences: false).map { unescape(Array($0)) }
    guard columns.count >= 2, let etag = columns[0], let key = columns[1], !key.isEmpty else { return nil }
    var fields: [String] = []
    for column in columns.dropFirst(2) {
      guard let column else { return nil }
      fields.append(column)
    }
    return Record(key: key, etag: etag, fields: fields)
  }

  static func escape(_ text: String) -> String {
    var out = [UInt8]()
    let hex = Array("0123456789ABCDEF".utf8)
    for b in text.utf8 {
      if b < 0x20 || b == 0x25 || b == 0x7F {
        out += [0x25, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
      } else {
        out.append(b)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Undoes `escape`; nil for a malformed escape or bytes that are not UTF-8.
  static func unescape(_ bytes: [UInt8]) -> String? {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    var i = 0
    func hexValue(_ c: UInt8) -> UInt8? {
      switch c {
      case 0x30...0x39: return c - 0x30
      case 0x41...0x46: return c - 0x41 + 10
      default: return nil
      }
    }
    while i < bytes.count {
      if bytes[i] == 0x25 {
        guard i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) else { return nil }
        out.append(h << 4 | l)
        i += 3
      } else {
        out.append(bytes[i])
        i += 1
      }
    }
    return String(validating: out, as: UTF8.self)
  }
}
