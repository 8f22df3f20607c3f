extension FleetFileSystem {
  /// The last path segment of `key` below `prefix`, or nil if it is not a name a directory
  /// can hold (empty, `.`, `..`, too long, with a control character or a further `/`).
  static func childName(_ key: String, under prefix: String, isPrefix: Bool) -> String? {
    // Bytes, not characters: a prefix is a byte prefix of the key in S3.
    guard key.utf8.starts(with: prefix.utf8) else { return nil }
    var rest = key.utf8.dropFirst(prefix.utf8.count)
    if isPrefix {
      guard rest.last == UInt8(ascii: "/") else { return nil }
      rest = rest.dropLast()
    }
    // Control characters (newlines, escape sequences) break scripts and terminals: not shown.
    guard !rest.isEmpty, rest.count <= 255,
      !rest.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") })
    else { return nil }
    let name = String(Substring(rest))
    guard name != ".", name != ".." else { return nil }
    return name
  }

  static func isSessionName(_ name: String) -> Bool {
    name.utf8.count == 8 && name.utf8.allSatisfy { (48...57).contains($0) }
  }
}
