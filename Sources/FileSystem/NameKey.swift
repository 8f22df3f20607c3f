/// A file name compared byte for byte. Swift's `String` equality is canonical equivalence, so
/// "café" spelt with U+00E9 and with "e" + U+0301 would be one dictionary key; for a filesystem
/// they are two names (two S3 keys), and must stay two files.
struct NameKey: Hashable, Sendable {
  let name: String

  init(_ name: String) { self.name = name }

  static func == (a: NameKey, b: NameKey) -> Bool { a.name.utf8.elementsEqual(b.name.utf8) }

  func hash(into hasher: inout Hasher) {
    var name = name
    name.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
  }
}
