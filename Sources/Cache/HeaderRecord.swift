import Foundation

/// One header record: a log's key and ETag and the fields read from its header. Its line
/// format is shared by the cache folder's `headers-v1.tsv` and the shared index's objects:
/// `ETAG \t KEY \t FIELD…`, every byte below 0x20, `%` and 0x7F percent-escaped.
public struct HeaderRecord: Sendable, Equatable {
  public var key: String
  public var etag: String
  public var fields: [String]

  public init(key: String, etag: String, fields: [String]) {
    self.key = key
    self.etag = etag
    self.fields = fields
  }

  /// The record as a line (with its newline).
  public static func line(_ record: HeaderRecord) -> String {
    ([record.etag, record.key] + record.fields).map(escape).joined(separator: "\t") + "\n"
  }

  /// A line (without its newline) back as a record; nil if it does not parse.
  public static func parse(_ bytes: Data) -> HeaderRecord? {
    let columns = bytes.split(separator: 0x09, omittingEmptySubsequences: false).map { unescape(Array($0)) }
    guard columns.count >= 2, let etag = columns[0], let key = columns[1], !key.isEmpty else { return nil }
    var fields: [String] = []
    for column in columns.dropFirst(2) {
      guard let column else { return nil }
      fields.append(column)
    }
    return HeaderRecord(key: key, etag: etag, fields: fields)
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
