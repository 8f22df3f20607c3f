/// A parsed JSON value, as the schema validator and the config rules see it.
public indirect enum JSONValue: Sendable, Equatable {
  case null
  case bool(Bool)
  /// Every JSON number, with the exact value of its text.
  case number(JSONNumber)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  public subscript(key: String) -> JSONValue? {
    if case .object(let o) = self { return o[key] }
    return nil
  }

  /// Follows a dotted path such as `log.file.split_time_period`.
  public func value(at dottedPath: String) -> JSONValue? {
    var current: JSONValue? = self
    for part in dottedPath.split(separator: ".") { current = current?[String(part)] }
    return current
  }

  /// The number, exactly.
  public var exactNumber: JSONNumber? { if case .number(let n) = self { return n } else { return nil } }
  /// The number as the nearest `Double`.
  public var number: Double? { exactNumber?.double }
  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  public var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }

  public var isInteger: Bool { exactNumber?.isInteger ?? false }

  /// The JSON type name used in schema `type` keywords.
  public var typeName: String {
    switch self {
    case .null: return "null"
    case .bool: return "boolean"
    case .number: return isInteger ? "integer" : "number"
    case .string: return "string"
    case .array: return "array"
    case .object: return "object"
    }
  }
}

/// Parsing JSON text strictly (RFC 8259, `StrictJSONParser`), with errors placed by line and column.
public enum JSONDocument {
  public struct SyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "line \(line), column \(column): \(message)" }
  }

  public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
    var parser = StrictJSONParser(bytes)
    do {
      return try parser.parseDocument()
    } catch {
      let (line, column) = position(in: bytes, offset: error.offset)
      throw SyntaxError(line: line, column: column, message: error.message)
    }
  }

  /// Line and column (in characters, from 1) of a byte offset.
  static func position(in bytes: [UInt8], offset: Int) -> (Int, Int) {
    var line = 1
    var column = 1
    for b in bytes[..<min(offset, bytes.count)] {
      if b == 10 {
        line += 1
        column = 1
      } else if b & 0xC0 != 0x80 {
        column += 1
      }
    }
    return (line, column)
  }
}
