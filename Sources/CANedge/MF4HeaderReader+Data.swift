extension MF4HeaderReader {
  /// A data group's records as one stream of bytes: its data blocks (`##DT` as stored, `##DZ`
  /// deflated, MDF 4.2) in order, from a single block or from a `##DL` list (behind an `##HL`
  /// when compressed). A record may run from one block into the next. Blocks are looked at
  /// only as far as the bytes asked for reach.
  struct RecordStream {
    /// The data blocks' offsets, in stream order.
    var blocks: [UInt64]
    /// The blocks looked at so far: where each one's bytes start in the stream, and its bytes.
    var pieces: [Piece] = []

    struct Piece {
      var start: UInt64
      var length: UInt64
      var content: Content
    }

    enum Content {
      /// Stored: the bytes are in the file from this offset.
      case stored(UInt64)
      /// Deflated: the bytes decompressed so far (a prefix, or all of a transposed block),
      /// and what it takes to decompress more.
      case deflated([UInt8], Zipped)
    }

    struct Zipped {
      var dataOffset: UInt64
      var compressedLength: UInt64
      var originalLength: UInt64
      var transposeColumns: UInt32?
    }
  }

  /// The stream behind a data link; nil when there is none or it is not data this reader knows.
  mutating func recordStream(at link: UInt64) throws -> RecordStream? {
    guard link != 0 else { return nil }
    let head = try bytes(at: link, count: 24)
    switch String(decoding: head[0..<4], as: UTF8.self) {
    case "##DT", "##DZ":
      return RecordStream(blocks: [link])
    case "##DL":
      return RecordStream(blocks: try dataList(at: link))
    case "##HL":
      let hl = try block(at: link, id: "HL", maxLength: 4096, minLinks: 1, minData: 0)
      guard hl.links[0] != 0 else { return nil }
      return RecordStream(blocks: try dataList(at: hl.links[0]))
    default:
      return nil
    }
  }

  /// The data blocks of a chain of `##DL` blocks.
  private mutating func dataList(at first: UInt64) throws -> [UInt64] {
    var blocks: [UInt64] = []
    var dl = first
    var seen = Set<UInt64>()
    while dl != 0 {
      guard seen.insert(dl).inserted, seen.count <= 256 else { throw MF4HeaderError.tooLarge("data list chain") }
      let list = try block(at: dl, id: "DL", maxLength: 256 * 1024, minLinks: 1, minData: 8)
      blocks += list.links.dropFirst().filter { $0 != 0 }
      guard blocks.count <= 65_536 else { throw MF4HeaderError.tooLarge("data list of \(blocks.count) blocks") }
      dl = list.links[0]
    }
    return blocks
  }

  /// `count` bytes of the stream from `position`; nil when the stream ends before.
  mutating func read(_ stream: inout RecordStream, at position: UInt64, count: Int) throws -> [UInt8]? {
    var out: [UInt8] = []
    var at = position
    let end = position + UInt64(count)
    while at < end {
      guard let index = try piece(of: &stream, containing: at) else { return nil }
      let piece = stream.pieces[index]
      let from = at - piece.start
      let take = min(end - at, piece.length - from)
      switch piece.content {
      case .stored(let offset):
        out += try bytes(at: offset + from, count: Int(take))
      case .deflated(var inflated, let zipped):
        if UInt64(inflated.count) < from + take {
          inflated = try inflate(zipped, atLeast: Int(from + take))
          stream.pieces[index].content = .deflated(inflated, zipped)
        }
        guard UInt64(inflated.count) >= from + take else {
          throw MF4HeaderError.badBlock(at: zipped.dataOffset, expected: "deflated data of \(zipped.originalLength) bytes")
        }
        out += inflated[Int(from)..<Int(from + take)]
      }
      at += take
    }
    return out
  }

  /// The piece holding stream byte `position`, looking at the next blocks as needed.
  private mutating func piece(of stream: inout RecordStream, containing position: UInt64) throws -> Int? {
    while true {
      if let last = stream.pieces.last, position < last.start + last.length {
        return stream.pieces.lastIndex { $0.start <= position }
      }
      guard stream.pieces.count < stream.blocks.count else { return nil }
      let start = stream.pieces.last.map { $0.start + $0.length } ?? 0
      let isLast = stream.pieces.count == stream.blocks.count - 1
      let offset = stream.blocks[stream.pieces.count]
      stream.pieces.append(try piece(at: offset, start: start, isLast: isLast))
    }
  }

  /// One data block: where its bytes are, or how to decompress them.
  private mutating func piece(at offset: UInt64, start: UInt64, isLast: Bool) throws -> RecordStream.Piece {
    let head = try bytes(at: offset, count: 24)
    let length = littleEndian(head, 8, 8)
    switch String(decoding: head[0..<4], as: UTF8.self) {
    case "##DT":
      guard length >= 24, offset <= fileSize else { throw MF4HeaderError.badBlock(at: offset, expected: "##DT") }
      // An unfinalized file's last DT may still say 24: it runs to the end of the file.
      let size = length == 24 && !finalizedFile && isLast ? fileSize - offset - 24 : min(length - 24, fileSize - offset - 24)
      return .init(start: start, length: size, content: .stored(offset + 24))
    case "##DZ":
      let dz = try block(at: offset, id: "DZ", maxLength: fileSize, minLinks: 0, minData: 24, dataPrefix: 24)
      guard String(decoding: dz.data[0..<2], as: UTF8.self) == "DT", dz.data[2] <= 1 else {
        throw MF4HeaderError.badBlock(at: offset, expected: "##DZ of a ##DT")
      }
      let original = dz.u64(8)
      let compressed = dz.u64(16)
      let dataOffset = offset + 24 + UInt64(dz.links.count) * 8 + 24
      guard compressed <= fileSize, dataOffset <= fileSize - compressed else {
        throw MF4HeaderError.truncated(at: dataOffset &+ compressed)
      }
      let columns = dz.u32(4)
      guard dz.data[2] == 0 || columns > 0 else { throw MF4HeaderError.badBlock(at: offset, expected: "##DZ columns") }
      let zipped = RecordStream.Zipped(
        dataOffset: dataOffset, compressedLength: compressed, originalLength: original,
        transposeColumns: dz.data[2] == 1 ? columns : nil)
      return .init(start: start, length: original, content: .deflated([], zipped))
    default:
      throw MF4HeaderError.badBlock(at: offset, expected: "##DT or ##DZ")
    }
  }

  /// At least `needed` bytes of a DZ block's data (fewer only when the block holds fewer): a
  /// deflated block decompresses a prefix, reading more of its compressed data only as
  /// needed; a transposed one (records stored column by column) is decompressed whole, then
  /// put back in rows.
  private mutating func inflate(_ zipped: RecordStream.Zipped, atLeast needed: Int) throws -> [UInt8] {
    let original = Int(min(zipped.originalLength, UInt64(Self.maxInflatedBytes) + 1))
    let want = zipped.transposeColumns == nil ? min(original, max(needed, 64 * 1024)) : original
    guard want <= Self.maxInflatedBytes - inflatedBytes else {
      throw MF4HeaderError.tooLarge("more than \(Self.maxInflatedBytes >> 20) MiB decompressed")
    }
    var input = zipped.transposeColumns == nil ? min(zipped.compressedLength, UInt64(Self.windowSize)) : zipped.compressedLength
    while true {
      let compressed = try bytes(at: zipped.dataOffset, count: Int(input))
      let out: [UInt8]
      do { out = try Inflate.prefix(of: compressed, limit: want) } catch {
        throw MF4HeaderError.badBlock(at: zipped.dataOffset, expected: "deflated data")
      }
      if out.count >= want || input == zipped.compressedLength {
        inflatedBytes += out.count
        guard let columns = zipped.transposeColumns else { return out }
        guard out.count == original else {
          throw MF4HeaderError.badBlock(at: zipped.dataOffset, expected: "transposed data of \(original) bytes")
        }
        return Self.untranspose(out, columns: Int(columns))
      }
      input = min(zipped.compressedLength, input * 4)
    }
  }

  /// A transposed block's bytes back in record order: the first rows × columns bytes hold
  /// column after column; the rest follows as it was.
  static func untranspose(_ bytes: [UInt8], columns: Int) -> [UInt8] {
    let rows = bytes.count / columns
    guard rows > 0, columns > 1 else { return bytes }
    var out = [UInt8](repeating: 0, count: bytes.count)
    for column in 0..<columns {
      for row in 0..<rows { out[row * columns + column] = bytes[column * rows + row] }
    }
    for i in (rows * columns)..<bytes.count { out[i] = bytes[i] }
    return out
  }
}
