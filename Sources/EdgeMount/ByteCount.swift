/// Sizes on the command line: `1073741824`, `512M`, `2G`.
enum ByteCount {
  /// The size `text` names; 0 only with `allowingZero`.
  static func parse(_ text: String, allowingZero: Bool = false) -> UInt64? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    var digits = Substring(t)
    var multiplier: UInt64 = 1
    if digits.hasSuffix("IB") { digits = digits.dropLast(2) } else if digits.hasSuffix("B") { digits = digits.dropLast() }
    if let last = digits.last, let m = units[last] {
      multiplier = m
      digits = digits.dropLast()
    }
    guard let n = UInt64(digits), n > 0 || allowingZero else { return nil }
    let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
    String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
  }
}

extension Set where Element == Character {
  fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
