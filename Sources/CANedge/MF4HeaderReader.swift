/// Reads an `MF4Header` from a log through bounded ranged reads.
///
/// It follows the ASAM MDF 4 block chain HD → DG → (CG, CN, CC) and each data group's data
/// (a DT, a DZ, or a DL list of them behind an HL) to its first record, whose master channel is
/// its timestamp; the earliest over the data groups is the log's first record. Every link is
/// bounds-checked and every chain capped.
///
/// The work is bounded by bytes and requests, not by how the links jump: the file is read in
/// aligned windows of `windowSize`, each kept for the rest of the walk, so blocks that lie close
/// together, before or after each other, cost no new request. The first read takes the first
/// `firstReadSize` (a CANedge log's every block before its first record: the samples' first
/// record is at byte 106,800); at most `maxReads` reads and `maxBytes` in all, and at most
/// `maxInflatedBytes` decompressed from DZ blocks. A file that needs more, a hostile one among
/// them, gives `MF4HeaderError.tooLarge`, never a crash, a loop or an unbounded read.
public struct MF4HeaderReader {
  public static let firstReadSize = 128 * 1024
  /// The alignment and size of every later read (a read that needs more takes several).
  public static let windowSize = 32 * 1024
  /// Reads allowed for one header, the first included.
  public static let maxReads = 12
  /// Bytes read for one header, all reads together.
  public static let maxBytes = 512 * 1024
  /// Bytes decompressed from DZ blocks for one header.
  public static let maxInflatedBytes = 8 << 20

  let fileSize: UInt64
  private let fetch: (Range<UInt64>) throws -> [UInt8]
  /// The windows read so far, by index.
  private var windows: [UInt64: [UInt8]] = [:]
  /// Ranged reads made so far.
  public private(set) var reads = 0
  /// Bytes those reads returned.
  public private(set) var bytesRead = 0
  /// Bytes decompressed so far.
  var inflatedBytes = 0
  /// Whether the file says it is finalized (`MDF     `): an unfinalized file's last data
  /// block may still give no length.
  var finalizedFile = true

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
    finalizedFile = finalized
    header.firstRecordOffsetNanoseconds = try firstRecordOffset(firstDataGroup: hd.links[0])
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

  /// The block at `offset`, checked to be an `id` block of at most `maxLength` bytes with at
  /// least `minLinks` links and `minData` bytes of data; with `dataPrefix`, only that much of
  /// its data is read (a DZ block's header, not its compressed data).
  mutating func block(
    at offset: UInt64, id: String, maxLength: UInt64, minLinks: Int, minData: Int, dataPrefix: Int? = nil
  ) throws -> Block {
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
    let bodyLength = dataPrefix.map { min(length - 24, linkCount * 8 + UInt64($0)) } ?? length - 24
    let body = try bytes(at: offset + 24, count: Int(bodyLength))
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
  private mutating func firstRecordOffset(firstDataGroup: UInt64) throws -> UInt64? {
    var earliest: UInt64?
    var dg = firstDataGroup
    var seen = Set<UInt64>()
    while dg != 0 {
      // A sorted file has a data group per channel group: 73 for the samples' CAN and LIN frames.
      guard seen.insert(dg).inserted, seen.count <= 4096 else { throw MF4HeaderError.tooLarge("data group chain") }
      let group = try block(at: dg, id: "DG", maxLength: 4096, minLinks: 4, minData: 1)
      if let t = try firstRecord(of: group) { earliest = min(earliest ?? t, t) }
      dg = group.links[0]
    }
    return earliest
  }

  /// The time of the first record of a group that has a time master: records of channel
  /// groups without one (VLSD data, groups with no master) are stepped over.
  private mutating func firstRecord(of group: Block) throws -> UInt64? {
    let recordIDSize = Int(group.data[0])
    guard [0, 1, 2, 4, 8].contains(recordIDSize) else { throw MF4HeaderError.badBlock(at: 0, expected: "record ID size") }
    guard var stream = try recordStream(at: group.links[2]) else { return nil }
    var position: UInt64 = 0
    var groups = ChannelGroupIndex(next: group.links[1])
    for _ in 0..<256 {
      guard let idBytes = try read(&stream, at: position, count: recordIDSize) else { return nil }
      let recordID = littleEndian(idBytes, 0, recordIDSize)
      guard let cg = try groups.find(recordID, single: recordIDSize == 0, reader: &self) else {
        throw MF4HeaderError.badBlock(at: position, expected: "channel group for record ID \(recordID)")
      }
      position += UInt64(recordIDSize)
      if cg.variableLength {
        guard let length = try read(&stream, at: position, count: 4) else { return nil }
        position += 4 + littleEndian(length, 0, 4)
        continue
      }
      guard cg.recordBytes <= 65_536 else { return nil }
      guard let master = cg.master else {
        position += cg.recordBytes
        continue
      }
      guard let record = try read(&stream, at: position, count: Int(cg.recordBytes)) else { return nil }
      guard let seconds = master.seconds(record), seconds >= 0, seconds < 3.0e9 else { return nil }
      return UInt64((seconds * 1e9).rounded())
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

  /// `count` bytes at `offset`, from the windows read so far, reading the missing ones (each
  /// run of missing windows in one request).
  mutating func bytes(at offset: UInt64, count: Int) throws -> [UInt8] {
    guard count >= 0, offset <= fileSize, UInt64(count) <= fileSize - offset else {
      throw MF4HeaderError.truncated(at: offset &+ UInt64(max(count, 0)))
    }
    guard count > 0 else { return [] }
    let size = UInt64(Self.windowSize)
    let first = offset / size
    let last = (offset + UInt64(count) - 1) / size
    var index = first
    while index <= last {
      guard windows[index] == nil else {
        index += 1
        continue
      }
      var end = index
      while end < last, windows[end + 1] == nil { end += 1 }
      if reads == 0, index == 0 { end = max(end, UInt64(Self.firstReadSize) / size - 1) }
      try read(windows: index...end)
      index = end + 1
    }
    var out = [UInt8]()
    out.reserveCapacity(count)
    var position = offset
    let end = offset + UInt64(count)
    while position < end {
      let window = position / size
      guard let bytes = windows[window] else { throw MF4HeaderError.truncated(at: position) }
      let from = Int(position - window * size)
      let to = min(bytes.count, from + Int(end - position))
      guard from < to else { throw MF4HeaderError.truncated(at: position) }
      out += bytes[from..<to]
      position += UInt64(to - from)
    }
    return out
  }

  private mutating func read(windows range: ClosedRange<UInt64>) throws {
    let size = UInt64(Self.windowSize)
    let start = range.lowerBound * size
    let end = min(fileSize, (range.upperBound + 1) * size)
    guard start < end else { throw MF4HeaderError.truncated(at: start) }
    guard reads < Self.maxReads else { throw MF4HeaderError.tooLarge("more than \(Self.maxReads) reads") }
    guard bytesRead + Int(end - start) <= Self.maxBytes else {
      throw MF4HeaderError.tooLarge("more than \(Self.maxBytes / 1024) KiB read")
    }
    reads += 1
    bytesRead += Int(end - start)
    let fetched = try fetch(start..<end)
    guard fetched.count == Int(end - start) else { throw MF4HeaderError.truncated(at: start + UInt64(fetched.count)) }
    for index in range {
      let from = Int(index * size - start)
      guard from < fetched.count else { break }
      windows[index] = Array(fetched[from..<min(fetched.count, from + Int(size))])
    }
  }
}

/// An unsigned little-endian integer of `width` bytes (at most 8) at `at`; 0 past the end.
func littleEndian(_ bytes: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
  var value: UInt64 = 0
  for i in 0..<min(width, 8) where at + i < bytes.count { value |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
  return value
}
