/// Reads an `MF4Header` from the start of a log through bounded ranged reads.
///
/// It follows the ASAM MDF 4 block chain HD → DG → (CG, CN, CC) and the data block to the
/// first record, whose first channel is its timestamp. Every link is bounds-checked, every
/// chain is capped, and the number of reads and their sizes are limited, so a hostile file
/// gives an `MF4HeaderError` and never a crash, a loop or an unbounded read.
///
/// Real CANedge MF4 files keep every block before their first record within the first
/// 110 KiB (the samples: first record at 106,800), so `firstReadSize` gets the whole answer
/// in one request; a link further in costs one more read of `laterReadSize`.
public struct MF4HeaderReader {
  public static let firstReadSize = 128 * 1024
  public static let laterReadSize = 16 * 1024
  /// Reads allowed for one header, the first included.
  public static let maxReads = 4

  private let fileSize: UInt64
  private let fetch: (Range<UInt64>) throws -> [UInt8]
  private var chunks: [(offset: UInt64, bytes: [UInt8])] = []
  /// Ranged reads made so far.
  public private(set) var reads = 0

  /// `fetch` returns the bytes of a range of the file (an S3 ranged GET).
  public init(fileSize: UInt64, fetch: @escaping (Range<UInt64>) throws -> [UInt8]) {
    self.fileSize = fileSize
    self.fetch = fetch
  }

  /// The header of a file (or of its first bytes) held in memory.
  public static func header(of bytes: [UInt8]) throws -> MF4Header {
    var reader = MF4HeaderReader(fileSize: UInt64(bytes.count)) { range in
      Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
    }
    return try reader.read()
  }

  /// Reads the header; rethrows `fetch`'s errors as they are.
  public mutating func read() throws -> MF4Header {
    let id = try bytes(at: 0, count: 64)
    let fileID = String(decoding: id[0..<8], as: UTF8.self)
    let finalized: Bool
    switch fileID {
    case "MDF     ": finalized = true
    case "UnFinMF ": finalized = false
    default:
      throw MF4HeaderError.notMF4(String(fileID.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? Character($0) : "?" }))
    }
    guard id[8] == UInt8(ascii: "4") else { throw MF4HeaderError.notMF4(String(decoding: id[8..<16], as: UTF8.self)) }
    let hd = try block(at: 64, id: "HD", maxLength: 4096, minLinks: 6, minData: 13)
    var header = MF4Header(
      finalized: finalized, sessionStartNanoseconds: hd.u64(0), timeZoneOffsetMinutes: Int16(bitPattern: hd.u16(8)),
      daylightSavingOffsetMinutes: Int16(bitPattern: hd.u16(10)), timeFlags: hd.data[12])
    header.comment = try comment(at: hd.links[5])
    header.firstRecordOffsetNanoseconds = try firstRecordOffset(firstDataGroup: hd.links[0], finalized: finalized)
    return header
  }

  // MARK: Blocks

  /// One MDF block: its links and its data section.
  struct Block {
    var links: [UInt64]
    var data: [UInt8]

    func u64(_ at: Int) -> UInt64 { littleEndian(data, at, 8) }
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian(data, at, 4)) }
    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian(data, at, 2)) }
  }

  mutating func block(at offset: UInt64, id: String, maxLength: UInt64, minLinks: Int, minData: Int) throws
    -> Block
  {
    let head = try bytes(at: offset, count: 24)
    guard head[0] == UInt8(ascii: "#"), head[1] == UInt8(ascii: "#"), Array(head[2..<4]) == Array(id.utf8) else {
      throw MF4HeaderError.badBlock(at: offset, expected: "##\(id)")
    }
    let length = littleEndian(head, 8, 8)
    let linkCount = littleEndian(head, 16, 8)
    guard length >= 24, length <= maxLength else { throw MF4HeaderError.tooLarge("##\(id) block of \(length) bytes") }
    guard linkCount <= (length - 24) / 8, linkCount >= UInt64(minLinks),
      length - 24 - linkCount * 8 >= UInt64(minData)
    else { throw MF4HeaderError.badBlock(at: offset, expected: "##\(id)") }
    let body = try bytes(at: offset + 24, count: Int(length - 24))
    let links = (0..<Int(linkCount)).map { littleEndian(body, $0 * 8, 8) }
    return Block(links: links, data: Array(body[(Int(linkCount) * 8)...]))
  }

  /// The HD comment's `<e name="...">` fields; a plain-text (`##TX`) or missing comment has none.
  private mutating func comment(at offset: UInt64) throws -> [String: String] {
    guard offset != 0 else { return [:] }
    let head = try bytes(at: offset, count: 24)
    guard Array(head[0..<4]) == Array("##MD".utf8) else { return [:] }
    let md = try block(at: offset, id: "MD", maxLength: 65_536, minLinks: 0, minData: 0)
    let text = md.data.prefix { $0 != 0 }
    return MF4HeaderComment.fields(Array(text))
  }

  // MARK: The first record

  /// What a channel group says about its records.
  struct ChannelGroup {
    var variableLength: Bool
    var recordBytes: UInt64
    var master: MasterChannel?
  }

  /// The time channel of a group and its conversion to seconds.
  struct MasterChannel {
    var byteOffset: UInt64
    var bitOffset: UInt8
    var bitCount: UInt32
    var dataType: UInt8
    var factor: Double
    var offset: Double

    func seconds(_ record: [UInt8]) -> Double? {
      let first = Int(byteOffset)
      let span = (Int(bitOffset) + Int(bitCount) + 7) / 8
      guard record.count >= first + span else { return nil }
      let bytes = Array(record[first..<(first + span)])
      let raw: Double
      switch dataType {
      case 0, 1:  // unsigned, little or big endian
        guard bitCount >= 1, bitCount <= 64, span <= 9 else { return nil }
        let ordered = dataType == 0 ? bytes : bytes.reversed()
        var value: UInt64 = 0
        for (i, b) in ordered.enumerated() where i < 8 { value |= UInt64(b) << (8 * UInt64(i)) }
        if span == 9 {
          value = (value >> UInt64(bitOffset)) | (UInt64(ordered[8]) << (64 - UInt64(bitOffset)))
        } else {
          value >>= UInt64(bitOffset)
        }
        if bitCount < 64 { value &= (1 << UInt64(bitCount)) - 1 }
        raw = Double(value)
      case 4, 5:  // IEEE float, little or big endian
        guard bitOffset == 0, bitCount == 32 || bitCount == 64 else { return nil }
        let ordered = dataType == 4 ? bytes : bytes.reversed()
        var value: UInt64 = 0
        for (i, b) in ordered.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        raw = bitCount == 64 ? Double(bitPattern: value) : Double(Float(bitPattern: UInt32(value)))
      default:
        return nil
      }
      let seconds = offset + factor * raw
      return seconds.isFinite ? seconds : nil
    }
  }

  /// The earliest first record over the data groups, relative to the session start.
  private mutating func firstRecordOffset(firstDataGroup: UInt64, finalized: Bool) throws -> UInt64? {
    var earliest: UInt64?
    var dg = firstDataGroup
    var seen = Set<UInt64>()
    while dg != 0 {
      guard seen.insert(dg).inserted, seen.count <= 64 else { throw MF4HeaderError.tooLarge("data group chain") }
      let group = try block(at: dg, id: "DG", maxLength: 4096, minLinks: 4, minData: 1)
      if let t = try firstRecord(of: group, finalized: finalized) { earliest = min(earliest ?? t, t) }
      dg = group.links[0]
    }
    return earliest
  }

  private mutating func firstRecord(of group: Block, finalized: Bool) throws -> UInt64? {
    let recordIDSize = Int(group.data[0])
    guard [0, 1, 2, 4, 8].contains(recordIDSize) else { throw MF4HeaderError.badBlock(at: 0, expected: "record ID size") }
    guard let (start, end) = try records(at: group.links[2], finalized: finalized) else { return nil }
    var position = start
    var groups = ChannelGroupIndex(next: group.links[1])
    for _ in 0..<256 {
      guard position + UInt64(recordIDSize) <= end else { return nil }
      let recordID = littleEndian(try bytes(at: position, count: recordIDSize), 0, recordIDSize)
      guard let cg = try groups.find(recordID, single: recordIDSize == 0, reader: &self) else {
        throw MF4HeaderError.badBlock(at: position, expected: "channel group for record ID \(recordID)")
      }
      position += UInt64(recordIDSize)
      if cg.variableLength {
        let length = UInt64(littleEndian(try bytes(at: position, count: 4), 0, 4))
        position += 4 + length
        continue
      }
      guard let master = cg.master else { return nil }
      guard cg.recordBytes <= 65_536, position + cg.recordBytes <= end else { return nil }
      let record = try bytes(at: position, count: Int(cg.recordBytes))
      guard let seconds = master.seconds(record), seconds >= 0, seconds < 3.0e9 else { return nil }
      return UInt64((seconds * 1e9).rounded())
    }
    return nil
  }

  /// Where the records of a data link start and end: a DT block (an unfinalized file's last
  /// DT runs to the end of the file), or the first DT of a DL or HL list. Compressed (DZ) or
  /// unknown data gives nil.
  private mutating func records(at link: UInt64, finalized: Bool) throws -> (UInt64, UInt64)? {
    var offset = link
    for _ in 0..<4 {
      guard offset != 0 else { return nil }
      let head = try bytes(at: offset, count: 24)
      let id = String(decoding: head[0..<4], as: UTF8.self)
      let length = littleEndian(head, 8, 8)
      switch id {
      case "##DT":
        guard length >= 24, offset <= fileSize, length <= fileSize - offset || !finalized else {
          throw MF4HeaderError.badBlock(at: offset, expected: "##DT")
        }
        let start = offset + 24
        let end = length == 24 && !finalized ? fileSize : min(fileSize, offset + length)
        return (start, end)
      case "##DL":
        let dl = try block(at: offset, id: "DL", maxLength: 1 << 20, minLinks: 2, minData: 8)
        offset = dl.links[1]
      case "##HL":
        let hl = try block(at: offset, id: "HL", maxLength: 4096, minLinks: 1, minData: 0)
        offset = hl.links[0]
      default:
        return nil
      }
    }
    return nil
  }

  /// The channel groups of one data group, read along the chain as far as a record ID needs.
  struct ChannelGroupIndex {
    var next: UInt64
    var found: [UInt64: ChannelGroup] = [:]
    var seen = Set<UInt64>()

    mutating func find(_ recordID: UInt64, single: Bool, reader: inout MF4HeaderReader) throws -> ChannelGroup? {
      if single, let only = found.values.first { return only }
      if let cg = found[recordID] { return cg }
      while next != 0 {
        guard seen.insert(next).inserted, seen.count <= 4096 else { throw MF4HeaderError.tooLarge("channel group chain") }
        let block = try reader.block(at: next, id: "CG", maxLength: 4096, minLinks: 6, minData: 32)
        next = block.links[0]
        let flags = block.u16(16)
        let variableLength = flags & 1 != 0
        let group = ChannelGroup(
          variableLength: variableLength, recordBytes: UInt64(block.u32(24)) + UInt64(block.u32(28)),
          master: variableLength ? nil : try reader.masterChannel(firstChannel: block.links[1]))
        let id = block.u64(0)
        found[id] = group
        if single || id == recordID { return group }
      }
      return nil
    }
  }

  /// The group's time master channel (cn_type 2, sync type 1) and its linear conversion.
  mutating func masterChannel(firstChannel: UInt64) throws -> MasterChannel? {
    var cn = firstChannel
    var seen = Set<UInt64>()
    while cn != 0 {
      guard seen.insert(cn).inserted, seen.count <= 1024 else { throw MF4HeaderError.tooLarge("channel chain") }
      let channel = try block(at: cn, id: "CN", maxLength: 4096, minLinks: 8, minData: 16)
      if channel.data[0] == 2, channel.data[1] == 1 {
        var master = MasterChannel(
          byteOffset: UInt64(channel.u32(4)), bitOffset: channel.data[3], bitCount: channel.u32(8),
          dataType: channel.data[2], factor: 1, offset: 0)
        let cc = channel.links[4]
        if cc != 0 {
          let conversion = try block(at: cc, id: "CC", maxLength: 4096, minLinks: 4, minData: 24)
          let type = conversion.data[0]
          let valueCount = Int(conversion.u16(6))
          switch type {
          case 0: break
          case 1:
            guard valueCount >= 2, conversion.data.count >= 24 + 16 else { return nil }
            master.offset = Double(bitPattern: conversion.u64(24))
            master.factor = Double(bitPattern: conversion.u64(32))
          default:
            return nil
          }
        }
        return master
      }
      cn = channel.links[0]
    }
    return nil
  }

  // MARK: Bytes

  /// `count` bytes at `offset`, from what was read so far or from one more bounded read.
  private mutating func bytes(at offset: UInt64, count: Int) throws -> [UInt8] {
    guard count >= 0, offset <= fileSize, UInt64(count) <= fileSize - offset else {
      throw MF4HeaderError.truncated(at: offset &+ UInt64(max(count, 0)))
    }
    let end = offset + UInt64(count)
    for chunk in chunks where chunk.offset <= offset && end <= chunk.offset + UInt64(chunk.bytes.count) {
      let start = Int(offset - chunk.offset)
      return Array(chunk.bytes[start..<(start + count)])
    }
    guard reads < Self.maxReads else { throw MF4HeaderError.tooLarge("more than \(Self.maxReads) reads") }
    let size = UInt64(max(count, reads == 0 ? Self.firstReadSize : Self.laterReadSize))
    let range = offset..<min(fileSize, offset + size)
    reads += 1
    let fetched = try fetch(range)
    guard fetched.count == Int(range.upperBound - range.lowerBound) else {
      throw MF4HeaderError.truncated(at: offset + UInt64(fetched.count))
    }
    chunks.append((offset, fetched))
    return Array(fetched[0..<count])
  }
}

/// An unsigned little-endian integer of `width` bytes (at most 8) at `at`; 0 past the end.
private func littleEndian(_ bytes: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
  var value: UInt64 = 0
  for i in 0..<min(width, 8) where at + i < bytes.count { value |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
  return value
}
