import Cache
import Foundation

/// One object of the shared header index (`--shared-index`): the header records of one
/// session, `ROOT.edgemount-index/v1/DEVICE/SESSION`.
///
/// A text object:
///
///     edgemount-index 1
///     ETAG <TAB> NAME <TAB> FIELD…        (one line per log, sorted by NAME)
///
/// NAME is the log's file name in the session (`00000012.MF4`), ETAG the ETag of the log the
/// record was read from, and the fields are those of the cache folder's `headers-v1.tsv`
/// (`HeaderIndex.encode`), escaped the same way. The object comes from the bucket, so it is
/// parsed strictly and bounded: any line that does not parse makes the whole object malformed.
struct SharedIndexObject: Equatable, Sendable {
  /// The header records by log name.
  var records: [String: HeaderRecord]

  /// The folder of layout 1, under the mount's root prefix.
  static let folder = ".edgemount-index/v1/"
  static let magic = "edgemount-index"
  static let layout = 1
  /// Larger objects are not read (a session of 10,000 logs is about 1.5 MB).
  static let maxBytes = 8 << 20
  static let maxRecords = 100_000

  enum ParseError: Error, Equatable, CustomStringConvertible {
    /// Written by a later layout: read by nothing here, and never overwritten.
    case newerLayout(Int)
    case malformed(String)

    var description: String {
      switch self {
      case .newerLayout(let version): return "written by a later layout (\(version)); this edgemount reads layout 1"
      case .malformed(let why): return "malformed: \(why)"
      }
    }
  }

  /// The object key of a session's records: `sessionPrefix` is `ROOT DEVICE/SESSION/`.
  static func key(rootPrefix: String, sessionPrefix: String) -> String {
    rootPrefix + folder + String(sessionPrefix.dropFirst(rootPrefix.count).dropLast())
  }

  /// Parses an object. `decodes` says whether a record's fields are ones the header index takes.
  static func parse(_ bytes: [UInt8], decodes: ([String]) -> Bool) throws(ParseError) -> SharedIndexObject {
    guard bytes.count <= maxBytes else { throw .malformed("larger than \(maxBytes) bytes") }
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    guard bytes.last == 0x0A, let first = lines.first else { throw .malformed("does not end in a newline") }
    let head = String(decoding: first, as: UTF8.self).split(separator: " ")
    guard head.count == 2, head[0] == magic, let version = Int(head[1]), version > 0 else {
      throw .malformed("the first line is not '\(magic) \(layout)'")
    }
    guard version == layout else { throw .newerLayout(version) }
    var records: [String: HeaderRecord] = [:]
    for (number, line) in lines.dropFirst().dropLast().enumerated() {
      guard records.count < maxRecords else { throw .malformed("more than \(maxRecords) records") }
      guard let record = HeaderRecord.parse(Data(line)) else { throw .malformed("line \(number + 2) does not parse") }
      let name = record.key
      guard !name.contains("/"), name != ".", name != "..", name.utf8.count <= 255 else {
        throw .malformed("line \(number + 2) names '\(name)', not a file of the session")
      }
      guard decodes(record.fields) else { throw .malformed("line \(number + 2) has fields the header index does not take") }
      guard records[name] == nil else { throw .malformed("line \(number + 2) repeats \(name)") }
      records[name] = record
    }
    return SharedIndexObject(records: records)
  }

  /// The object's bytes: the records sorted by name.
  func rendered() -> [UInt8] {
    var text = "\(Self.magic) \(Self.layout)\n"
    for name in records.keys.sorted() { text += HeaderRecord.line(records[name]!) }
    return Array(text.utf8)
  }

  /// What to publish: for each listed log (name → ETag), `ours` if this mount knows its
  /// header, else the object's record if it is for the same ETag. Records of names this mount
  /// did not list are kept only if they sort after the last listed name (uploaded since this
  /// mount listed); the others are gone from the bucket and dropped.
  func merged(with ours: [String: HeaderRecord], listed: [String: String]) -> SharedIndexObject {
    var out: [String: HeaderRecord] = [:]
    for (name, etag) in listed {
      if let record = ours[name], record.etag == etag {
        out[name] = record
      } else if let record = records[name], record.etag == etag {
        out[name] = record
      }
    }
    let last = listed.keys.max()
    for (name, record) in records where listed[name] == nil {
      if let last, name <= last { continue }
      out[name] = record
    }
    return SharedIndexObject(records: out)
  }
}
