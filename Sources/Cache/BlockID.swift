/// One block of one version of an object: the unit the caches hold. Blocks are
/// `BlockID.size` bytes, aligned; the last block of an object is shorter.
public struct BlockID: Hashable, Sendable, CustomStringConvertible {
  public static let size = 1 << 20

  public let key: String
  public let etag: String
  public let index: Int

  public init(key: String, etag: String, index: Int) {
    self.key = key
    self.etag = etag
    self.index = index
  }

  public var offset: UInt64 { UInt64(index) * UInt64(Self.size) }

  /// The byte range of this block in an object of `objectSize` bytes.
  public func range(objectSize: UInt64) -> Range<UInt64> {
    offset..<min(objectSize, offset + UInt64(Self.size))
  }

  /// The index of the block holding byte `offset`.
  public static func index(of offset: UInt64) -> Int { Int(offset / UInt64(size)) }

  /// How many blocks an object of `objectSize` bytes has.
  public static func count(for objectSize: UInt64) -> Int { objectSize == 0 ? 0 : index(of: objectSize - 1) + 1 }

  /// The blocks that hold the bytes of `range` (not empty).
  public static func indices(covering range: Range<UInt64>) -> ClosedRange<Int> {
    index(of: range.lowerBound)...index(of: max(range.lowerBound, range.upperBound - 1))
  }

  public var description: String { "\(key)@\(etag)#\(index)" }
}
