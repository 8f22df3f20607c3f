/// A heatshrink (LZSS) decoder, as CANedge devices compress logs (`.MFC`).
///
/// The stream is read bit by bit, most significant bit first. A 1 bit is followed by a literal
/// byte (8 bits). A 0 bit is followed by a back-reference: an index of `windowBits` bits and a
/// count of `lookaheadBits` bits; `count + 1` bytes are copied from `index + 1` bytes back in
/// the output (a copy may overlap what it writes). The window starts zero-filled, so a
/// reference before the first byte yields zeros. A token cut short at the end of the stream
/// (the zero padding of the last byte) yields nothing.
///
/// The decoder keeps only the last `2^windowBits` bytes, so it runs in bounded memory however
/// long the stream; `decode` stops at a given output size, so a hostile stream costs bounded work.
public struct HeatshrinkDecoder: Sendable {
  public let windowBits: Int
  public let lookaheadBits: Int
  /// The last 2^windowBits bytes produced (a ring).
  private var window: [UInt8]
  private var head = 0
  /// Bits read but not used yet (at most 7 + the widest field).
  private var accumulator: UInt64 = 0
  private var accumulated = 0
  /// A back-reference still being copied (an output limit stopped it part way).
  private var pendingOffset = 0
  private var pendingCount = 0
  /// Bytes produced so far.
  public private(set) var produced: UInt64 = 0

  public struct Unsupported: Error, Equatable, CustomStringConvertible {
    public let description: String
  }

  /// `windowBits` 4…15, `lookaheadBits` 3…`windowBits` (heatshrink's own bounds).
  public init(windowBits: Int, lookaheadBits: Int) throws(Unsupported) {
    guard (4...15).contains(windowBits), (3...windowBits).contains(lookaheadBits) else {
      throw Unsupported(description: "heatshrink window of \(windowBits) bits and look-ahead of \(lookaheadBits) bits")
    }
    self.windowBits = windowBits
    self.lookaheadBits = lookaheadBits
    window = [UInt8](repeating: 0, count: 1 << windowBits)
  }

  /// Decodes `input` (the next bytes of the stream), appending to `output` until it holds
  /// `limit` bytes. Returns how many input bytes were taken: all of them, unless the limit was
  /// reached first (then feed the rest again later).
  @discardableResult
  public mutating func decode(_ input: ArraySlice<UInt8>, into output: inout [UInt8], limit: Int = .max) -> Int {
    let mask = window.count - 1
    var index = input.startIndex
    func flushPending(_ output: inout [UInt8]) {
      while pendingCount > 0, output.count < limit {
        let byte = window[(head - pendingOffset) & mask]
        window[head & mask] = byte
        head &+= 1
        output.append(byte)
        pendingCount -= 1
        produced += 1
      }
    }
    flushPending(&output)
    while output.count < limit {
      // The widest token: 1 + windowBits + lookaheadBits bits. Take whole bytes until the
      // accumulator holds a token, or the input ends.
      let needed: Int
      if accumulated == 0 {
        needed = 1
      } else if accumulator >> UInt64(accumulated - 1) & 1 == 1 {
        needed = 9
      } else {
        needed = 1 + windowBits + lookaheadBits
      }
      if accumulated < needed {
        guard index < input.endIndex else { break }
        accumulator = accumulator << 8 | UInt64(input[index])
        accumulated += 8
        index += 1
        continue
      }
      let rest = accumulated - needed
      let token = accumulator >> UInt64(rest)
      accumulator &= (1 << UInt64(rest)) - 1
      accumulated = rest
      if needed == 9 {
        let byte = UInt8(token & 0xFF)
        window[head & mask] = byte
        head &+= 1
        output.append(byte)
        produced += 1
      } else {
        let count = Int(token & ((1 << UInt64(lookaheadBits)) - 1)) + 1
        let offset = Int(token >> UInt64(lookaheadBits) & ((1 << UInt64(windowBits)) - 1)) + 1
        pendingOffset = offset
        pendingCount = count
        flushPending(&output)
      }
    }
    return index - input.startIndex
  }
}
