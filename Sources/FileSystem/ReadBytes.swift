/// The bytes of one read, as slices of the blocks they come from: a read served from the block
/// cache is handed to the kernel without being copied into one buffer first.
public struct ReadBytes: Sendable, Equatable {
  public var segments: [ArraySlice<UInt8>]

  public init(_ segments: [ArraySlice<UInt8>]) {
    self.segments = segments.filter { !$0.isEmpty }
  }

  public init(_ bytes: [UInt8]) {
    self.init([bytes[...]])
  }

  public static let empty = ReadBytes([ArraySlice<UInt8>]())

  public var count: Int { segments.reduce(0) { $0 + $1.count } }
  public var isEmpty: Bool { segments.isEmpty }
  /// One array (a copy), for callers that want one.
  public var bytes: [UInt8] { segments.count == 1 ? Array(segments[0]) : Array(segments.joined()) }
}
