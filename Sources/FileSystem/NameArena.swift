/// The bytes of every name in the inode table, back to back in one buffer, so a name costs its
/// UTF-8 length and not a string allocation. Names are only ever appended (a rename appends
/// the new name; the old bytes stay, renames being rare).
struct NameArena: Sendable {
  /// Where a name's bytes are.
  struct Slice: Sendable, Equatable {
    var offset: UInt32
    var length: UInt16
  }

  private(set) var bytes: [UInt8] = []

  mutating func append(_ name: String) -> Slice {
    let slice = Slice(offset: UInt32(bytes.count), length: UInt16(name.utf8.count))
    bytes.append(contentsOf: name.utf8)
    return slice
  }

  func string(_ slice: Slice) -> String {
    let start = Int(slice.offset)
    return String(decoding: bytes[start..<start + Int(slice.length)], as: UTF8.self)
  }

  /// Byte-for-byte equality: two spellings of one Unicode text are two names, as they are two keys.
  func equals(_ slice: Slice, _ name: String) -> Bool {
    equals(slice, name.utf8)
  }

  func equals(_ slice: Slice, _ name: some Collection<UInt8>) -> Bool {
    guard Int(slice.length) == name.count else { return false }
    let start = Int(slice.offset)
    return bytes[start..<start + Int(slice.length)].elementsEqual(name)
  }

  func hash(_ slice: Slice, into hasher: inout Hasher) {
    let start = Int(slice.offset)
    bytes.withUnsafeBytes { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0[start..<start + Int(slice.length)])) }
  }

  /// Bytes reserved (what memory the arena holds, not what it uses).
  var capacityBytes: Int { bytes.capacity }
}
