/// A strict RFC 8259 JSON parser for the files that reach a device: exactly the grammar, no
/// extensions, so a file the device's own parser could read differently is refused.
///
/// Refused, each with a line, a column and a plain reason: a byte order mark, invalid UTF-8,
/// lone surrogates in `\u` escapes, control characters in strings, trailing commas, a member
/// name repeated in one object (at any depth; names equal after Unicode normalisation count as
/// the same, since they would collapse in any Unicode-aware reader), leading zeros, `NaN` and
/// `Infinity`, comments, single quotes, anything after the value, and nesting deeper than
/// `maximumDepth`. Numbers keep their exact decimal value (`JSONNumber`).
///
/// One pass over the bytes, linear in the input; the recursion is bounded by `maximumDepth`,
/// so a hostile nesting cannot overflow the stack.
public struct StrictJSONParser {
  /// Arrays and objects nest at most this deep (the CANedge configs and schemas use under 15).
  public static let maximumDepth = 64

  /// Why the text was refused, at a byte offset (turned into line and column by `JSONDocument`).
  struct Failure: Error {
    var offset: Int
    var message: String
  }

  private let bytes: [UInt8]
  private var index = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  /// The one value of the document, with nothing but white space after it.
  mutating func parseDocument() throws(Failure) -> JSONValue {
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
      throw Failure(offset: 0, message: "the file starts with a byte order mark (BOM), which JSON does not allow")
    }
    skipWhitespace()
    guard index < bytes.count else { throw Failure(offset: 0, message: "the file is empty") }
    let value = try parseValue(depth: 0, path: "$")
    skipWhitespace()
    if index < bytes.count {
      throw Failure(offset: index, message: "unexpected \(describe(index)) after the end of the JSON value")
    }
    return value
  }

  private mutating func skipWhitespace() {
    while index < bytes.count {
      switch bytes[index] {
      case 0x20, 0x09, 0x0A, 0x0D: index += 1
      default: return
      }
    }
  }

  /// What stands at `at`, for a message. Beside a device secret (`secret`), never the
  /// character itself: it may be the first of the secret's value.
  private func describe(_ at: Int, secret: Bool = false) -> String {
    guard at < bytes.count else { return "end of file" }
    let b = bytes[at]
    if secret, b > 0x20 { return "text (not shown: beside a secret field)" }
    switch b {
    case 0x2F where at + 1 < bytes.count && (bytes[at + 1] == 0x2F || bytes[at + 1] == 0x2A): return "comment (JSON has none)"
    case 0x27: return "single quote (JSON strings use double quotes)"
    case 0x21...0x7E: return "character '\(Character(Unicode.Scalar(b)))'"
    default: return "byte 0x\(String(b, radix: 16, uppercase: true))"
    }
  }

  private mutating func parseValue(depth: Int, path: String) throws(Failure) -> JSONValue {
    guard index < bytes.count else { throw Failure(offset: index, message: "the file ends where a value was expected") }
    switch bytes[index] {
    case 0x7B: return try parseObject(depth: depth + 1, path: path)
    case 0x5B: return try parseArray(depth: depth + 1, path: path)
    case 0x22: return .string(try parseString(valueAt: path))
    case 0x2D, 0x30...0x39: return .number(try parseNumber())
    case 0x74: try literal("true", path: path); return .bool(true)
    case 0x66: try literal("false", path: path); return .bool(false)
    case 0x6E: try literal("null", path: path); return .null
    case 0x4E, 0x49:
      throw Failure(offset: index, message: "NaN and Infinity are not JSON numbers")
    default:
      let secret = DeviceSecrets.isSecretPath(path)
      throw Failure(offset: index, message: "unexpected \(describe(index, secret: secret)) where a value was expected")
    }
  }

  private mutating func literal(_ word: StaticString, path: String) throws(Failure) {
    let text = word.withUTF8Buffer { Array($0) }
    guard bytes.count - index >= text.count, Array(bytes[index..<index + text.count]) == text else {
      let secret = DeviceSecrets.isSecretPath(path)
      throw Failure(offset: index, message: "unexpected \(describe(index, secret: secret)) where a value was expected")
    }
    index += text.count
  }

  private mutating func enter(_ depth: Int) throws(Failure) {
    if depth > Self.maximumDepth {
      throw Failure(offset: index, message: "arrays and objects nest more than \(Self.maximumDepth) deep")
    }
  }

  private mutating func parseObject(depth: Int, path: String) throws(Failure) -> JSONValue {
    try enter(depth)
    index += 1  // {
    var members: [String: JSONValue] = [:]
    skipWhitespace()
    if index < bytes.count, bytes[index] == 0x7D {
      index += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard index < bytes.count, bytes[index] == 0x22 else {
        if index < bytes.count, bytes[index] == 0x7D {
          throw Failure(offset: index, message: "trailing comma before '}'")
        }
        throw Failure(offset: index, message: "unexpected \(describe(index)) where a member name in double quotes was expected")
      }
      let nameOffset = index
      let name = try parseString()
      let memberPath = JSONSchemaValidator.join(path, name)
      guard members[name] == nil else {
        throw Failure(offset: nameOffset, message: "member name \"\(name)\" appears twice in one object (\(memberPath))")
      }
      skipWhitespace()
      guard index < bytes.count, bytes[index] == 0x3A else {
        throw Failure(offset: index, message: "unexpected \(describe(index)) where ':' was expected")
      }
      index += 1
      skipWhitespace()
      members[name] = try parseValue(depth: depth, path: memberPath)
      skipWhitespace()
      guard index < bytes.count else { throw Failure(offset: index, message: "the file ends inside an object") }
      switch bytes[index] {
      case 0x2C: index += 1
      case 0x7D:
        index += 1
        return .object(members)
      default:
        let secret = DeviceSecrets.isSecretPath(memberPath)
        throw Failure(offset: index, message: "unexpected \(describe(index, secret: secret)) where ',' or '}' was expected")
      }
    }
  }

  private mutating func parseArray(depth: Int, path: String) throws(Failure) -> JSONValue {
    try enter(depth)
    index += 1  // [
    var items: [JSONValue] = []
    skipWhitespace()
    if index < bytes.count, bytes[index] == 0x5D {
      index += 1
      return .array(items)
    }
    while true {
      skipWhitespace()
      if index < bytes.count, bytes[index] == 0x5D, !items.isEmpty {
        throw Failure(offset: index, message: "trailing comma before ']'")
      }
      items.append(try parseValue(depth: depth, path: "\(path)[\(items.count)]"))
      skipWhitespace()
      guard index < bytes.count else { throw Failure(offset: index, message: "the file ends inside an array") }
      switch bytes[index] {
      case 0x2C: index += 1
      case 0x5D:
        index += 1
        return .array(items)
      default: throw Failure(offset: index, message: "unexpected \(describe(index)) where ',' or ']' was expected")
      }
    }
  }

  /// A string; `valueAt`, the path of the member whose value it is (nil for member names),
  /// decides only what an error may quote.
  private mutating func parseString(valueAt path: String? = nil) throws(Failure) -> String {
    let start = index
    index += 1  // "
    var out: [UInt8] = []
    while true {
      guard index < bytes.count else { throw Failure(offset: start, message: "the string starting here is never closed") }
      let b = bytes[index]
      switch b {
      case 0x22:
        index += 1
        return String(decoding: out, as: UTF8.self)
      case 0x5C:
        try parseEscape(into: &out, valueAt: path)
      case 0x00...0x1F:
        throw Failure(
          offset: index,
          message: "control character 0x\(String(b, radix: 16, uppercase: true)) in a string (write it as an escape)")
      case 0x20...0x7F:
        out.append(b)
        index += 1
      default:
        let length = try utf8SequenceLength(at: index)
        out.append(contentsOf: bytes[index..<index + length])
        index += length
      }
    }
  }

  /// The length of the valid UTF-8 sequence at `at` (RFC 3629: no overlong forms, no
  /// surrogates, nothing above U+10FFFF), or a failure.
  private func utf8SequenceLength(at at: Int) throws(Failure) -> Int {
    let lead = bytes[at]
    let length: Int
    var lower: UInt8 = 0x80
    var upper: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF: length = 2
    case 0xE0: length = 3; lower = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED: length = 3; upper = 0x9F
    case 0xF0: length = 4; lower = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4: length = 4; upper = 0x8F
    default:
      throw Failure(offset: at, message: "the text is not valid UTF-8 (byte 0x\(String(lead, radix: 16, uppercase: true)))")
    }
    guard at + length <= bytes.count else { throw Failure(offset: at, message: "the text is not valid UTF-8 (cut-off sequence)") }
    for i in 1..<length {
      let b = bytes[at + i]
      let (lo, hi) = i == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
      guard b >= lo, b <= hi else { throw Failure(offset: at, message: "the text is not valid UTF-8") }
    }
    return length
  }

  private mutating func parseEscape(into out: inout [UInt8], valueAt path: String?) throws(Failure) {
    // Looked up only for a message: most strings have no error.
    var secret: Bool { path.map(DeviceSecrets.isSecretPath) ?? false }
    let start = index
    guard index + 1 < bytes.count else { throw Failure(offset: start, message: "the file ends inside an escape") }
    let c = bytes[index + 1]
    index += 2
    switch c {
    case 0x22, 0x5C, 0x2F: out.append(c)
    case 0x62: out.append(0x08)
    case 0x66: out.append(0x0C)
    case 0x6E: out.append(0x0A)
    case 0x72: out.append(0x0D)
    case 0x74: out.append(0x09)
    case 0x75:
      let unit = try hex4(start)
      var scalar: UInt32
      switch unit {
      case 0xD800...0xDBFF:
        guard index + 1 < bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else {
          throw Failure(
            offset: start,
            message: "lone surrogate \(Self.escape(unit, hidden: secret)) (no low surrogate follows)")
        }
        index += 2
        let low = try hex4(start)
        guard (0xDC00...0xDFFF).contains(low) else {
          throw Failure(
            offset: start,
            message: "lone surrogate \(Self.escape(unit, hidden: secret)) (no low surrogate follows)")
        }
        scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
      case 0xDC00...0xDFFF:
        throw Failure(
          offset: start,
          message: "lone surrogate \(Self.escape(unit, hidden: secret)) (no high surrogate before it)")
      default:
        scalar = unit
      }
      out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
    default:
      throw Failure(
        offset: start, message: "invalid escape \\\(c < 0x80 && !secret ? String(Character(Unicode.Scalar(c))) : "?") in a string"
      )
    }
  }

  /// `\uXXXX` for a message, or `\u…` inside a device secret.
  private static func escape(_ unit: UInt32, hidden: Bool) -> String {
    "\\u" + (hidden ? "…" : String(unit, radix: 16, uppercase: true))
  }

  private mutating func hex4(_ escapeStart: Int) throws(Failure) -> UInt32 {
    guard index + 4 <= bytes.count else { throw Failure(offset: escapeStart, message: "\\u needs four hex digits") }
    var value: UInt32 = 0
    for b in bytes[index..<index + 4] {
      let digit: UInt8
      switch b {
      case 0x30...0x39: digit = b - 0x30
      case 0x41...0x46: digit = b - 0x41 + 10
      case 0x61...0x66: digit = b - 0x61 + 10
      default: throw Failure(offset: escapeStart, message: "\\u needs four hex digits")
      }
      value = value << 4 | UInt32(digit)
    }
    index += 4
    return value
  }

  /// Exponents are carried up to this magnitude and saturate beyond it (a value of 10^±10^9
  /// compares like any larger one against every number a schema holds).
  static let maximumExponent = 1_000_000_000

  private mutating func parseNumber() throws(Failure) -> JSONNumber {
    let start = index
    var negative = false
    if bytes[index] == 0x2D {
      negative = true
      index += 1
    }
    var digits: [UInt8] = []
    guard index < bytes.count, (0x30...0x39).contains(bytes[index]) else {
      if index < bytes.count, bytes[index] == 0x49 {
        throw Failure(offset: start, message: "NaN and Infinity are not JSON numbers")
      }
      throw Failure(offset: start, message: "a number needs a digit after '-'")
    }
    if bytes[index] == 0x30 {
      index += 1
      if index < bytes.count, (0x30...0x39).contains(bytes[index]) {
        throw Failure(offset: start, message: "leading zeros are not allowed in numbers")
      }
    } else {
      while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
        digits.append(bytes[index] - 0x30)
        index += 1
      }
    }
    var exponent = 0
    if index < bytes.count, bytes[index] == 0x2E {
      index += 1
      guard index < bytes.count, (0x30...0x39).contains(bytes[index]) else {
        throw Failure(offset: start, message: "a number needs a digit after '.'")
      }
      while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
        digits.append(bytes[index] - 0x30)
        exponent -= 1
        index += 1
      }
    }
    if index < bytes.count, bytes[index] == 0x65 || bytes[index] == 0x45 {
      index += 1
      var negativeExponent = false
      if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D {
        negativeExponent = bytes[index] == 0x2D
        index += 1
      }
      guard index < bytes.count, (0x30...0x39).contains(bytes[index]) else {
        throw Failure(offset: start, message: "a number needs a digit in its exponent")
      }
      var value = 0
      while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
        value = min(value * 10 + Int(bytes[index] - 0x30), Self.maximumExponent)
        index += 1
      }
      exponent += negativeExponent ? -value : value
    }
    return JSONNumber(isNegative: negative, digits: digits, exponent: exponent)
  }
}
