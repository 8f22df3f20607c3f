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
  public typealias Record = HeaderRecord

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
        if let record = HeaderRecord.parse(data[start..<newline]) {
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
    let line = Array(HeaderRecord.line(record).utf8)
    state.withLock { s in
      _ = line.withUnsafeBytes { write(s.fd, $0.baseAddress, $0.count) }
      s.lines += 1
    }
  }

  /// Replaces the file with exactly `records` (written aside, then renamed into place).
  private func rewrite(_ records: [Record]) {
    let temporary = path + ".tmp"
    let text = records.map(HeaderRecord.line).joined()
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
}
