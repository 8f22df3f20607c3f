import Foundation

/// A parsed JSON value, as the schema validator and the config rules see it.
public indirect enum JSONValue: Sendable, Equatable {
  case null
  case bool(Bool)
  /// Every JSON number; `isInteger` when it has no fractional part (draft-07's "integer").
  case number(Double)
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

  public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  public var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }

  public var isInteger: Bool {
    guard case .number(let n) = self else { return false }
    return n.isFinite && n.rounded(.towardZero) == n
  }

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

  /// Converts what `JSONSerialization` produced.
  init(foundation value: Any) {
    switch value {
    case is NSNull: self = .null
    case let n as NSNumber:
      // JSONSerialization gives booleans as char-typed numbers.
      if String(cString: n.objCType) == "c" {
        self = .bool(n.boolValue)
      } else {
        self = .number(n.doubleValue)
      }
    case let s as String: self = .string(s)
    case let a as [Any]: self = .array(a.map(JSONValue.init(foundation:)))
    case let o as [String: Any]: self = .object(o.mapValues(JSONValue.init(foundation:)))
    default: self = .null
    }
  }
}

/// Parsing JSON text with Foundation's `JSONSerialization`, with syntax errors placed by line and column.
public enum JSONDocument {
  public struct SyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "line \(line), column \(column): \(message)" }
  }

  public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
    if bytes.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 10 || $0 == 13 }) {
      throw SyntaxError(line: 1, column: 1, message: "the file is empty")
    }
    if String(validating: bytes, as: UTF8.self) == nil {
      throw SyntaxError(line: 1, column: 1, message: "the file is not valid UTF-8")
    }
    do {
      let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
      return JSONValue(foundation: object)
    } catch {
      let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
      let (line, column) = position(in: bytes, from: detail)
      return try { () throws(SyntaxError) -> JSONValue in
        throw SyntaxError(line: line, column: column, message: "not valid JSON (\(detail))")
      }()
    }
  }

  /// Foundation reports "around character N" (or "line L, column C"); turn it into line and column.
  static func position(in bytes: [UInt8], from detail: String) -> (Int, Int) {
    let numbers = detail.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    if detail.contains("line"), numbers.count >= 2 { return (numbers[0], numbers[1]) }
    guard let offset = numbers.first else { return (1, 1) }
    var line = 1
    var column = 1
    for (i, b) in bytes.enumerated() where i < offset {
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
