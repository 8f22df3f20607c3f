import Cache

/// How far ahead of its readers the mount fetches, sized to the link: enough bytes in flight to
/// cover the round trip at the link's rate (its bandwidth-delay product), and no more than
/// `--read-ahead`. On loopback that is the floor (8 MiB: the read-ahead of a walk is then four
/// files of two blocks, a sequential reader's window 16 blocks); from 63 ms away it is the limit.
/// SEMANTICS.md § Reading gives the memory this costs.
struct ReadAhead: Sendable, Equatable {
  /// The most bytes fetched ahead (`--read-ahead`, default 128 MiB).
  var limit: Int

  static let floor = 8 << 20
  /// The rate the read-ahead is sized for: two gigabytes a second, a fast host's link to its
  /// region. A slower link needs less and wastes nothing: what is ahead is read later anyway.
  static let assumedRate = 2 << 30
  /// A walk fetches at most this many files ahead, however small they are: 4 on a near link
  /// (where the next GET is quick), 64 when the read-ahead is above its floor.
  static let nearFiles = 4
  static let maxFiles = 64

  init(limit: Int = 128 << 20) { self.limit = max(0, limit) }

  /// Bytes to keep fetched ahead, for the measured round trip (nil: not measured yet).
  func bytes(roundTrip: Duration?) -> Int {
    let rtt = roundTrip.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
    let product = Int(min(Double(Int.max / 2), rtt * Double(Self.assumedRate)))
    return min(limit, max(Self.floor, product))
  }

  /// The most blocks a sequential reader's window grows to.
  func windowBlocks(bytes: Int) -> Int { max(16, bytes / BlockID.size) }

  /// What a walk fetches of each next file: its first blocks, up to a quarter of the bytes
  /// ahead (2 MiB on loopback), so the next four files are always started.
  func bytesPerFile(bytes: Int) -> Int { max(2 * BlockID.size, bytes / 4) }
}
