/// A JSON number with the exact value of its text: a sign, a digit string and a decimal
/// exponent. Comparisons and equality are exact, so a 64-bit integer or a CRC-32 is never
/// rounded through `Double` (`18446744073709551616` is more than `18446744073709551615`).
public struct JSONNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// True for a value below zero (a negative zero is zero).
  public let isNegative: Bool
  /// The significant digits, without leading or trailing zeros; empty for zero.
  public let digits: [UInt8]
  /// The value is `digits × 10^exponent`.
  public let exponent: Int

  /// The nearest `Double` (for messages and the checks that are not exact by nature).
  public var double: Double {
    var text = isNegative ? "-" : ""
    text += digits.isEmpty ? "0" : String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
    text += "e\(exponent)"
    return Double(text) ?? (isNegative ? -.infinity : .infinity)
  }

  /// Builds the number from its parts, normalising away leading and trailing zeros.
  init(isNegative: Bool, digits rawDigits: [UInt8], exponent rawExponent: Int) {
    var start = 0
    while start < rawDigits.count, rawDigits[start] == 0 { start += 1 }
    var end = rawDigits.count
    var exponent = rawExponent
    while end > start, rawDigits[end - 1] == 0 {
      end -= 1
      exponent += 1
    }
    digits = Array(rawDigits[start..<end])
    self.exponent = digits.isEmpty ? 0 : exponent
    self.isNegative = digits.isEmpty ? false : isNegative
  }

  public init(_ value: Int64) {
    let magnitude = value.magnitude
    self.init(isNegative: value < 0, digits: String(magnitude).utf8.map { $0 - 48 }, exponent: 0)
  }

  /// The exact decimal value of a finite `Double` as Swift prints it (shortest round trip).
  public init(_ value: Double) {
    precondition(value.isFinite, "JSON has no \(value)")
    var parser = StrictJSONParser(Array(String(value).utf8))
    guard case .number(let n)? = try? parser.parseDocument() else {
      self.init(isNegative: false, digits: [], exponent: 0)
      return
    }
    self = n
  }

  /// A value with no fractional part (draft-07's `integer`: `1.0` and `1e2` are integers).
  public var isInteger: Bool { exponent >= 0 }

  /// The value as an `Int64`, when it is an integer in range.
  public var int64: Int64? {
    guard isInteger, digits.count + exponent <= 19 else { return nil }
    var magnitude: UInt64 = 0
    for d in digits {
      let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(UInt64(d))
      if o1 || o2 { return nil }
      magnitude = s
    }
    for _ in 0..<exponent {
      let (m, o) = magnitude.multipliedReportingOverflow(by: 10)
      if o { return nil }
      magnitude = m
    }
    if isNegative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
    return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
  }

  public static func < (a: JSONNumber, b: JSONNumber) -> Bool {
    if a.isNegative != b.isNegative { return a.isNegative }
    let magnitudeLess = compareMagnitude(a, b) < 0
    let magnitudeGreater = compareMagnitude(a, b) > 0
    return a.isNegative ? magnitudeGreater : magnitudeLess
  }

  /// -1, 0 or 1 as |a| is less than, equal to or greater than |b|.
  private static func compareMagnitude(_ a: JSONNumber, _ b: JSONNumber) -> Int {
    if a.digits.isEmpty || b.digits.isEmpty { return a.digits.isEmpty ? (b.digits.isEmpty ? 0 : -1) : 1 }
    // The position of the leading digit decides first.
    let orderA = a.digits.count + a.exponent
    let orderB = b.digits.count + b.exponent
    if orderA != orderB { return orderA < orderB ? -1 : 1 }
    for i in 0..<max(a.digits.count, b.digits.count) {
      let da = i < a.digits.count ? a.digits[i] : 0
      let db = i < b.digits.count ? b.digits[i] : 0
      if da != db { return da < db ? -1 : 1 }
    }
    return 0
  }

  /// Whether `self` is an integer multiple of `step` (exact for integers in `Int64`).
  public func isMultiple(of step: JSONNumber) -> Bool {
    if let n = int64, let s = step.int64, s != 0 { return n % s == 0 }
    let q = double / step.double
    return q.isFinite && abs(q - q.rounded()) <= 1e-9 * max(1, abs(q))
  }

  /// The shortest exact decimal text: `4294967295`, `-0.5`, `1.5e+300`.
  public var description: String {
    if digits.isEmpty { return "0" }
    let text = String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
    let sign = isNegative ? "-" : ""
    if exponent >= 0, digits.count + exponent <= 21 { return sign + text + String(repeating: "0", count: exponent) }
    if exponent < 0, -exponent < digits.count { return sign + text.dropLast(-exponent) + "." + text.suffix(-exponent) }
    if exponent < 0, -exponent - digits.count < 6 {
      return sign + "0." + String(repeating: "0", count: -exponent - digits.count) + text
    }
    let mantissa = digits.count == 1 ? text : text.prefix(1) + "." + text.dropFirst()
    let power = exponent + digits.count - 1
    return sign + mantissa + "e" + (power < 0 ? "-" : "+") + String(power.magnitude)
  }
}

extension JSONNumber: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
  public init(integerLiteral value: Int64) { self.init(value) }
  public init(floatLiteral value: Double) { self.init(value) }
}
