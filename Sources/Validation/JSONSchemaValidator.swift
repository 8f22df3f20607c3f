import Foundation
import Locking

/// A JSON Schema (draft-07) validator for the keywords the CANedge rule schemas use, and the
/// rest of draft-07's validation vocabulary: type, enum, const, numeric bounds, multipleOf,
/// string length, pattern (ECMAScript syntax through ICU, look-behind included), format
/// date-time, items/additionalItems/contains, array bounds and uniqueItems, properties,
/// patternProperties, additionalProperties, required, property counts, propertyNames,
/// dependencies (both forms), allOf/anyOf/oneOf/not, if/then/else, and local `$ref`
/// (`#/definitions/…` and other JSON pointers into the same schema).
///
/// Written by hand because no available Swift package validates JSON Schema; checked against
/// Python's `jsonschema` in the tests.
public final class JSONSchemaValidator: Sendable {
  public let schema: JSONValue
  private let regexCache = Locked<[String: NSRegularExpression]>([:])

  public init(schema: JSONValue) { self.schema = schema }

  /// All violations, in document order of discovery; empty when valid.
  public func validate(_ instance: JSONValue) -> [SchemaViolation] {
    var out: [SchemaViolation] = []
    check(instance, against: schema, path: "$", into: &out, depth: 0)
    return out
  }

  private func check(_ value: JSONValue, against schema: JSONValue, path: String, into out: inout [SchemaViolation], depth: Int) {
    guard depth < 64 else {
      out.append(SchemaViolation(path: path, message: "schema nests too deeply (a $ref cycle?)"))
      return
    }
    switch schema {
    case .bool(true): return
    case .bool(false):
      out.append(SchemaViolation(path: path, message: "no value is allowed here"))
      return
    case .object(let s):
      if let ref = s["$ref"]?.string {
        // In draft-07 a $ref replaces its siblings.
        guard let target = resolve(ref) else {
          out.append(SchemaViolation(path: path, message: "schema reference \(ref) cannot be resolved"))
          return
        }
        check(value, against: target, path: path, into: &out, depth: depth + 1)
        return
      }
      checkType(value, s, path, &out)
      checkEnum(value, s, path, &out)
      switch value {
      case .number(let n): checkNumber(n, s, path, &out)
      case .string(let str): checkString(str, s, path, &out)
      case .array(let items): checkArray(items, s, path, &out, depth)
      case .object(let members): checkObject(members, value, s, path, &out, depth)
      case .null, .bool: break
      }
      checkCombinators(value, s, path, &out, depth)
    default:
      return  // not a schema: accepts everything, as validators do
    }
  }

  private func checkType(_ value: JSONValue, _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation]) {
    guard let type = s["type"] else { return }
    let allowed: [String] = type.string.map { [$0] } ?? (type.array?.compactMap(\.string) ?? [])
    let actual = value.typeName
    let ok = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
    if !ok { out.append(SchemaViolation(path: path, message: "must be \(allowed.joined(separator: " or ")), not \(actual)")) }
  }

  private func checkEnum(_ value: JSONValue, _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation]) {
    if let options = s["enum"]?.array, !options.contains(value) {
      var v = SchemaViolation(
        path: path,
        message: "must be one of \(options.map(Self.render).joined(separator: ", ")), not \(Self.render(value, at: path))")
      v.isValueMismatch = true
      out.append(v)
    }
    if let constant = s["const"], constant != value {
      var v = SchemaViolation(path: path, message: "must be \(Self.render(constant))")
      v.isValueMismatch = true
      out.append(v)
    }
  }

  private func checkNumber(_ n: JSONNumber, _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation]) {
    if let min = s["minimum"]?.exactNumber, n < min {
      out.append(SchemaViolation(path: path, message: "must be at least \(min), not \(n)"))
    }
    if let max = s["maximum"]?.exactNumber, n > max {
      out.append(SchemaViolation(path: path, message: "must be at most \(max), not \(n)"))
    }
    if let min = s["exclusiveMinimum"]?.exactNumber, n <= min {
      out.append(SchemaViolation(path: path, message: "must be greater than \(min)"))
    }
    if let max = s["exclusiveMaximum"]?.exactNumber, n >= max {
      out.append(SchemaViolation(path: path, message: "must be less than \(max)"))
    }
    if let step = s["multipleOf"]?.exactNumber, step > 0, !n.isMultiple(of: step) {
      out.append(SchemaViolation(path: path, message: "must be a multiple of \(step), not \(n)"))
    }
  }

  private func checkString(_ str: String, _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation]) {
    let length = str.unicodeScalars.count
    if let min = s["minLength"]?.number, Double(length) < min {
      out.append(SchemaViolation(path: path, message: "must be at least \(Int(min)) characters long, not \(length)"))
    }
    if let max = s["maxLength"]?.number, Double(length) > max {
      out.append(SchemaViolation(path: path, message: "must be at most \(Int(max)) characters long, not \(length)"))
    }
    if let pattern = s["pattern"]?.string {
      if let regex = regex(pattern) {
        let range = NSRange(str.startIndex..<str.endIndex, in: str)
        if regex.firstMatch(in: str, options: [], range: range) == nil {
          out.append(
            SchemaViolation(path: path, message: "\(Self.render(.string(str), at: path)) does not match the pattern \(pattern)"))
        }
      } else {
        out.append(SchemaViolation(path: path, message: "schema pattern \(pattern) is not a valid regular expression"))
      }
    }
    if s["format"]?.string == "date-time", !Self.isDateTime(str) {
      out.append(SchemaViolation(path: path, message: "\(Self.render(.string(str), at: path)) is not an RFC 3339 date-time"))
    }
  }

  private func checkArray(
    _ items: [JSONValue], _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation], _ depth: Int
  ) {
    if let min = s["minItems"]?.number, Double(items.count) < min {
      out.append(SchemaViolation(path: path, message: "must have at least \(Int(min)) items, not \(items.count)"))
    }
    if let max = s["maxItems"]?.number, Double(items.count) > max {
      out.append(SchemaViolation(path: path, message: "must have at most \(Int(max)) items, not \(items.count)"))
    }
    if s["uniqueItems"] == .bool(true) {
      for i in items.indices {
        if let j = items[..<i].firstIndex(of: items[i]) {
          out.append(SchemaViolation(path: "\(path)[\(i)]", message: "duplicates item \(j); items must be unique"))
          break
        }
      }
    }
    switch s["items"] {
    case .array(let tuple)?:
      for (i, item) in items.enumerated() {
        if i < tuple.count {
          check(item, against: tuple[i], path: "\(path)[\(i)]", into: &out, depth: depth + 1)
        } else if let extra = s["additionalItems"] {
          check(item, against: extra, path: "\(path)[\(i)]", into: &out, depth: depth + 1)
        }
      }
    case let itemSchema?:
      for (i, item) in items.enumerated() {
        check(item, against: itemSchema, path: "\(path)[\(i)]", into: &out, depth: depth + 1)
      }
    case nil: break
    }
    if let contains = s["contains"], !items.contains(where: { passes($0, contains, depth) }) {
      out.append(SchemaViolation(path: path, message: "must contain an item matching the schema"))
    }
  }

  private func checkObject(
    _ members: [String: JSONValue], _ value: JSONValue, _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation],
    _ depth: Int
  ) {
    for key in s["required"]?.array?.compactMap(\.string) ?? [] where members[key] == nil {
      out.append(SchemaViolation(path: Self.join(path, key), message: "is required but missing"))
    }
    if let min = s["minProperties"]?.number, Double(members.count) < min {
      out.append(SchemaViolation(path: path, message: "must have at least \(Int(min)) properties"))
    }
    if let max = s["maxProperties"]?.number, Double(members.count) > max {
      out.append(SchemaViolation(path: path, message: "must have at most \(Int(max)) properties"))
    }
    let properties = s["properties"]?.object ?? [:]
    let patterns = (s["patternProperties"]?.object ?? [:]).sorted { $0.key < $1.key }
    for key in members.keys.sorted() {
      let member = members[key]!
      let memberPath = Self.join(path, key)
      var matched = false
      if let sub = properties[key] {
        matched = true
        check(member, against: sub, path: memberPath, into: &out, depth: depth + 1)
      }
      for (pattern, sub) in patterns {
        guard let regex = regex(pattern) else { continue }
        if regex.firstMatch(in: key, options: [], range: NSRange(key.startIndex..<key.endIndex, in: key)) != nil {
          matched = true
          check(member, against: sub, path: memberPath, into: &out, depth: depth + 1)
        }
      }
      if !matched, let additional = s["additionalProperties"] {
        if additional == .bool(false) {
          out.append(SchemaViolation(path: memberPath, message: "is not an allowed property here"))
        } else {
          check(member, against: additional, path: memberPath, into: &out, depth: depth + 1)
        }
      }
      if let names = s["propertyNames"], !passes(.string(key), names, depth) {
        out.append(SchemaViolation(path: memberPath, message: "is not an allowed property name"))
      }
    }
    for (key, dependency) in (s["dependencies"]?.object ?? [:]).sorted(by: { $0.key < $1.key }) where members[key] != nil {
      if let needed = dependency.array {
        for other in needed.compactMap(\.string) where members[other] == nil {
          out.append(SchemaViolation(path: Self.join(path, other), message: "is required when \(key) is present"))
        }
      } else {
        check(value, against: dependency, path: path, into: &out, depth: depth + 1)
      }
    }
  }

  private func checkCombinators(
    _ value: JSONValue, _ s: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation], _ depth: Int
  ) {
    for sub in s["allOf"]?.array ?? [] { check(value, against: sub, path: path, into: &out, depth: depth + 1) }
    if let options = s["anyOf"]?.array {
      let results = options.map { violations(value, $0, path, depth) }
      if !results.contains(where: \.isEmpty) {
        out += closest(results, path: path, what: "must match at least one of \(options.count) alternatives")
      }
    }
    if let options = s["oneOf"]?.array {
      let results = options.map { violations(value, $0, path, depth) }
      let matching = results.filter(\.isEmpty).count
      if matching == 0 {
        out += closest(results, path: path, what: "must match one of \(options.count) alternatives")
      } else if matching > 1 {
        out.append(SchemaViolation(path: path, message: "matches \(matching) alternatives where exactly one is allowed"))
      }
    }
    if let not = s["not"], passes(value, not, depth) {
      out.append(SchemaViolation(path: path, message: "must not match the excluded schema"))
    }
    if let condition = s["if"] {
      if passes(value, condition, depth) {
        if let then = s["then"] { check(value, against: then, path: path, into: &out, depth: depth + 1) }
      } else if let otherwise = s["else"] {
        check(value, against: otherwise, path: path, into: &out, depth: depth + 1)
      }
    }
  }

  /// A failed set of alternatives, explained by the alternative that came closest: the one
  /// with the fewest enum/const mismatches (the branch the value was meant for), then the fewest
  /// violations.
  private func closest(_ results: [[SchemaViolation]], path: String, what: String) -> [SchemaViolation] {
    func score(_ list: [SchemaViolation]) -> (Int, Int) { (list.filter(\.isValueMismatch).count, list.count) }
    guard let best = results.min(by: { score($0) < score($1) }), !best.isEmpty else {
      return [SchemaViolation(path: path, message: what)]
    }
    return best.map { v in
      var annotated =
        v.path == path
        ? SchemaViolation(path: path, message: "\(what) (closest: \(v.message))")
        : SchemaViolation(path: v.path, message: v.message)
      annotated.isValueMismatch = v.isValueMismatch
      return annotated
    }
  }

  private func violations(_ value: JSONValue, _ schema: JSONValue, _ path: String, _ depth: Int) -> [SchemaViolation] {
    var out: [SchemaViolation] = []
    check(value, against: schema, path: path, into: &out, depth: depth + 1)
    return out
  }

  private func passes(_ value: JSONValue, _ schema: JSONValue, _ depth: Int) -> Bool {
    violations(value, schema, "$", depth).isEmpty
  }

  /// Resolves `#`, `#/definitions/x` and other JSON pointers within this schema.
  private func resolve(_ ref: String) -> JSONValue? {
    guard ref.hasPrefix("#") else { return nil }
    var current: JSONValue? = schema
    for raw in ref.dropFirst().split(separator: "/") {
      let token = URIDecoding.percentDecoded(String(raw)).replacingOccurrences(of: "~1", with: "/").replacingOccurrences(
        of: "~0", with: "~")
      switch current {
      case .object(let o)?: current = o[token]
      case .array(let a)?: current = Int(token).flatMap { a.indices.contains($0) ? a[$0] : nil }
      default: return nil
      }
    }
    return current
  }

  private func regex(_ pattern: String) -> NSRegularExpression? {
    if let cached = regexCache.withLock({ $0[pattern] }) { return cached }
    guard let compiled = try? NSRegularExpression(pattern: pattern, options: []) else { return nil }
    regexCache.withLock { $0[pattern] = compiled }
    return compiled
  }

  static func join(_ path: String, _ key: String) -> String {
    let simple = !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !(key.first?.isNumber ?? false)
    return simple ? "\(path).\(key)" : "\(path)[\(render(.string(key)))]"
  }

  /// A value as a message quotes it; a device secret's (`DeviceSecrets.isSecretPath`) never.
  static func render(_ value: JSONValue, at path: String) -> String {
    DeviceSecrets.isSecretPath(path) ? "the value (not shown: a secret)" : render(value)
  }

  static func render(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let n): return n.description
    case .string(let s):
      let short = s.count > 60 ? String(s.prefix(57)) + "..." : s
      return "\"" + short.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    case .array: return "an array"
    case .object: return "an object"
    }
  }

  static func isDateTime(_ s: String) -> Bool {
    s.range(of: #"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#, options: .regularExpression) != nil
  }
}

enum URIDecoding {
  static func percentDecoded(_ s: String) -> String { s.removingPercentEncoding ?? s }
}
