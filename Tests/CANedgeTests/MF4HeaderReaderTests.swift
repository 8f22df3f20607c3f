import CANedge
import DemoFleet
import Foundation
import TestSupport
import Testing

/// `MF4HeaderReader` against independent readers (asammdf and mdf_iter, through
/// `Tests/Support/mf4_oracle.py`) on the real CANedge samples, on copies with the session start
/// rewritten and on files asammdf writes itself; and against hostile files built block by block.
@Suite struct MF4HeaderReaderTests {
  static let samples = [
    "bucket-sample/2F6913DB/00001089/00000001-63BEF5CD.MF4", "bucket-sample/2F6913DB/00001089/00000002-63BEFDF9.MF4",
  ]
  static let compressed = [
    "bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC", "bucket-sample/5BC57FEC/00000001/00000006-643E5292.MFC",
    "bucket-sample/5BC57FEC/00000001/00000007-643E54EA.MFC",
  ]

  struct OracleFailed: Error, CustomStringConvertible { var description: String }

  struct Oracle: Decodable {
    var file: String
    var session_start_ns: UInt64?
    var tz_offset: Int?
    var dst_offset: Int?
    var time_flags: Int?
    var first_record_ns: UInt64?
    var asammdf_first_record_ns: UInt64?
    var fields: [String: String]?
    var error: String?
    var mdf_iter_error: String?
  }

  static func oracle(_ paths: [String]) throws -> [Oracle] {
    let r = try Command.run(["python3", Fixtures.directory.path + "/../Support/mf4_oracle.py"] + paths)
    guard r.status == 0 else { throw OracleFailed(description: "mf4_oracle.py: \(r.stderr)") }
    return try r.stdout.split(separator: "\n").map { try JSONDecoder().decode(Oracle.self, from: Data($0.utf8)) }
  }

  /// Reads a header as the mount does: ranged reads of the file, counted.
  static func read(_ bytes: [UInt8]) throws -> (MF4Header, reads: Int) {
    let (header, reads, _) = try readCounting(bytes)
    return (header, reads)
  }

  /// The header, the reads made and the bytes they returned.
  static func readCounting(_ bytes: [UInt8]) throws -> (MF4Header, reads: Int, bytes: Int) {
    var reader = MF4HeaderReader(fileSize: UInt64(bytes.count)) { Array(bytes[Int($0.lowerBound)..<Int($0.upperBound)]) }
    let header = try reader.read()
    return (header, reader.reads, reader.bytesRead)
  }

  static func utcDay(_ nanoseconds: UInt64) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd"
    return f.string(from: Date(timeIntervalSince1970: Double(nanoseconds / 1_000_000_000)))
  }

  /// `busLogging`: mdf_iter's first measurement counts (it iterates CAN and LIN frames only,
  /// and gives the session start for other files).
  func check(_ header: MF4Header, against o: Oracle, _ name: String, busLogging: Bool = true) {
    #expect(o.error == nil, "\(name): the oracle could not read it: \(o.error ?? "")")
    #expect(header.sessionStartNanoseconds == o.session_start_ns, "\(name)")
    #expect(Int(header.timeZoneOffsetMinutes) == o.tz_offset && Int(header.daylightSavingOffsetMinutes) == o.dst_offset)
    #expect(Int(header.timeFlags) == o.time_flags)
    // mdf_iter follows no DL, HL or DZ block: there asammdf is the oracle.
    let busLogging = busLogging && o.mdf_iter_error == nil
    guard let first = header.firstRecordNanoseconds, let theirs = busLogging ? o.first_record_ns : o.asammdf_first_record_ns
    else {
      Issue.record("\(name): no first record (ours \(String(describing: header.firstRecordNanoseconds)))")
      return
    }
    // mdf_iter reports a double: exact to about 256 ns at today's epoch.
    #expect(first > theirs ? first - theirs <= 1000 : theirs - first <= 1000, "\(name): \(first) vs mdf_iter \(theirs)")
    if let a = o.asammdf_first_record_ns {
      #expect(first > a ? first - a <= 1000 : a - first <= 1000, "\(name): \(first) vs asammdf \(a)")
    }
    #expect(Self.utcDay(first) == Self.utcDay(theirs), "\(name): day")
    for (field, value) in o.fields ?? [:] {
      #expect(header.comment[field] == value, "\(name): HD comment field '\(field)'")
    }
  }

  @Test func realSamplesMatchAsammdfAndMdfIterInOneRead() throws {
    let oracles = try Self.oracle(Self.samples.map { Fixtures.url($0).path })
    #expect(oracles.count == Self.samples.count)
    for (sample, o) in zip(Self.samples, oracles) {
      let (header, reads) = try Self.read(try Fixtures.bytes(sample))
      #expect(reads == 1, "\(sample): a real CANedge file needs one request")
      #expect(!header.finalized)
      #expect(header.comment["serial number"] == "2F6913DB" && header.comment["firmware version"] == "01.07.01")
      check(header, against: o, sample)
    }
  }

  @Test func compressedFilesAreNotMF4ForEveryReader() throws {
    let oracles = try Self.oracle(Self.compressed.map { Fixtures.url($0).path })
    for (file, o) in zip(Self.compressed, oracles) {
      #expect(throws: MF4HeaderError.notMF4("Generic ")) { try Self.read(try Fixtures.bytes(file)) }
      #expect(o.error?.contains("Generic") == true, "\(file): \(o.error ?? "read by asammdf")")
    }
  }

  /// Copies of a real file with `hd_start_time_ns` rewritten: the reader and the oracle agree
  /// on the new time and day, near midnight included.
  @Test func rewrittenSessionStartsMatchTheOracle() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mf4-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let starts: [UInt64] = [
      1_764_547_200_000_000_000,  // 2025-12-01T00:00:00Z
      1_764_633_599_990_000_000,  // 10 ms before midnight: the first record is the next day
      946_684_800_000_000_000, 4_102_444_800_000_000_000,
    ]
    var paths: [String] = []
    var copies: [[UInt8]] = []
    for (i, start) in starts.enumerated() {
      var bytes = try Fixtures.bytes(Self.samples[i % 2])
      bytes.rewriteSessionStart(start)
      let path = directory.appendingPathComponent("\(i).MF4").path
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      paths.append(path)
      copies.append(bytes)
    }
    for (i, o) in try Self.oracle(paths).enumerated() {
      let (header, _) = try Self.read(copies[i])
      #expect(header.sessionStartNanoseconds == starts[i])
      check(header, against: o, "copy \(i)")
    }
    #expect(try Self.utcDay(Self.read(copies[1]).0.firstRecordNanoseconds!) == "2025-12-02")
  }

  /// Files written by asammdf (finalized, its own block layout), uncompressed: the reader
  /// finds the same first record.
  @Test func filesWrittenByAsammdfMatch() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mf4w-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let script = """
      import sys, warnings, datetime, numpy as np
      warnings.filterwarnings("ignore")
      from asammdf import MDF, Signal
      for i, first in enumerate([0.0, 3.25, 86399.5]):
          mdf = MDF(version="4.11")
          mdf.header.start_time = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)
          t = first + np.arange(100) * 0.01
          mdf.append([Signal(np.arange(100, dtype="<u2"), t, name="speed")])
          mdf.append([Signal(np.arange(50, dtype="<f8"), first + 1 + np.arange(50) * 0.02, name="rpm")])
          mdf.save(f"{sys.argv[1]}/w{i}.mf4", overwrite=True, compression=0)
      """
    let r = try Command.run(["python3", "-c", script, directory.path])
    #expect(r.status == 0, "\(r.stderr)")
    let paths = (0..<3).map { directory.appendingPathComponent("w\($0).mf4").path }
    for (path, o) in zip(paths, try Self.oracle(paths)) {
      let (header, _) = try Self.read([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
      #expect(header.finalized)
      check(header, against: o, path, busLogging: false)
    }
  }

  /// Every layout `Tests/Support/mf4_layouts.py` makes of a real CANedge log (data groups at
  /// the tail with backward links, chains alternating between head and tail, finalized and
  /// unfinalized, sorted by asammdf, DL over several DT blocks, DZ blocks of both kinds, HL):
  /// the reader dates each as asammdf does (and mdf_iter, where it reads the file), with the
  /// reads and bytes each layout takes, within the bound.
  @Test func everyLayoutIsDatedAsTheOraclesDateIt() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mf4layouts-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let r = try Command.run([
      "python3", Fixtures.directory.path + "/../Support/mf4_layouts.py", Fixtures.url(Self.samples[0]).path, directory.path,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    // Reads and bytes (KiB) each layout takes: the first read is 128 KiB, later ones 32 KiB windows.
    let layouts: [(name: String, reads: Int, kib: Int, mdfIter: Bool)] = [
      ("unsorted-tail", 6, 259, true), ("unsorted-alternate", 4, 224, true), ("finalized-unsorted", 6, 259, true),
      ("unsorted-dl", 6, 259, false), ("unsorted-hl-dz", 6, 285, false), ("sorted", 2, 160, true),
      ("sorted-tail", 5, 225, true), ("sorted-dz-deflate", 1, 128, false), ("sorted-dz-transposed", 1, 128, false),
    ]
    let paths = layouts.map { directory.appendingPathComponent("\($0.name).mf4").path }
    let oracles = try Self.oracle(paths)
    let sampleStart = try Self.read(try Fixtures.bytes(Self.samples[0])).0.firstRecordNanoseconds
    for (layout, (path, o)) in zip(layouts, zip(paths, oracles)) {
      let (header, reads, bytes) = try Self.readCounting([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
      check(header, against: o, layout.name, busLogging: true)
      #expect(header.firstRecordNanoseconds == sampleStart, "\(layout.name): the sample's own first record")
      #expect(o.mdf_iter_error == nil || !layout.mdfIter, "\(layout.name): \(o.mdf_iter_error ?? "")")
      #expect(reads == layout.reads && bytes / 1024 == layout.kib, "\(layout.name): \(reads) reads, \(bytes / 1024) KiB")
      #expect(reads <= MF4HeaderReader.maxReads && bytes <= MF4HeaderReader.maxBytes)
    }
    // Mutations of the DL, HL and DZ layouts: a header or an error, within the bound.
    var rng = SplitMix64(seed: 26)
    for name in ["unsorted-dl", "unsorted-hl-dz", "sorted-dz-transposed", "sorted-dz-deflate"] {
      let original = [UInt8](try Data(contentsOf: directory.appendingPathComponent("\(name).mf4")))
      for _ in 0..<1_000 {
        var bytes = original
        for _ in 0..<(1 + Int(rng.next() % 8)) {
          // Mostly the tail, where these layouts keep their blocks.
          let at = Int(rng.next() % UInt64(bytes.count))
          bytes[at] = UInt8(truncatingIfNeeded: rng.next())
        }
        do {
          let (_, reads, read) = try Self.readCounting(bytes)
          #expect(reads <= MF4HeaderReader.maxReads && read <= MF4HeaderReader.maxBytes)
        } catch is MF4HeaderError {}
      }
    }
  }

  // MARK: Hostile files

  @Test func aLinkFurtherInCostsOneMoreRead() throws {
    let file = SyntheticMF4(dataAt: 300_000).bytes
    let (header, reads) = try Self.read(file)
    #expect(header.firstRecordOffsetNanoseconds == 2_500_000_000)
    #expect(reads == 2)
  }

  @Test func hostileHeadersGiveErrorsNotCrashes() throws {
    #expect(try Self.read(SyntheticMF4().bytes).0.firstRecordOffsetNanoseconds == 2_500_000_000)
    // A link past the end of the file.
    var past = SyntheticMF4()
    past.dataGroupLink = 10_000_000
    #expect(throws: MF4HeaderError.self) { try Self.read(past.bytes) }
    // A channel group chain that loops back on itself.
    var loop = SyntheticMF4()
    loop.loopChannelGroups = true
    loop.firstRecordID = 99
    #expect(throws: MF4HeaderError.tooLarge("channel group chain")) { try Self.read(loop.bytes) }
    // A block that claims to be huge.
    var huge = SyntheticMF4()
    huge.hdLength = 1 << 40
    #expect(throws: MF4HeaderError.tooLarge("##HD block of \(1 << 40) bytes")) { try Self.read(huge.bytes) }
    // A data group that points at itself.
    var selfLoop = SyntheticMF4()
    selfLoop.dataGroupLoops = true
    #expect(throws: MF4HeaderError.tooLarge("data group chain")) { try Self.read(selfLoop.bytes) }
    // Blocks far apart cost a read each: four such cost five reads.
    var spread = SyntheticMF4(dataAt: 900_000)
    spread.spreadBlocks = true
    #expect(try Self.read(spread.bytes).reads == 5)
    // A chain that needs more windows than the bound allows stops at the bound.
    var chain = SyntheticMF4()
    chain.spreadChannels = MF4HeaderReader.maxReads
    #expect(throws: MF4HeaderError.tooLarge("more than \(MF4HeaderReader.maxReads) reads")) { try Self.read(chain.bytes) }
    chain.spreadChannels = MF4HeaderReader.maxReads - 1
    #expect(try Self.read(chain.bytes).reads == MF4HeaderReader.maxReads)
    // DZ data: deflated and transposed read back; a claim beyond the bound and data that is
    // not zlib give errors, after reading no more than the block.
    for kind in [SyntheticMF4.DataBlock.deflated, .transposed] {
      var zipped = SyntheticMF4()
      zipped.data = kind
      #expect(try Self.read(zipped.bytes).0.firstRecordOffsetNanoseconds == 2_500_000_000, "\(kind)")
    }
    var bomb = SyntheticMF4()
    bomb.data = .transposedClaiming(1 << 40)
    #expect(throws: MF4HeaderError.tooLarge("more than \(MF4HeaderReader.maxInflatedBytes >> 20) MiB decompressed")) {
      try Self.read(bomb.bytes)
    }
    bomb.data = .transposedClaiming(100)
    #expect(throws: MF4HeaderError.self) { try Self.read(bomb.bytes) }
    var garbage = SyntheticMF4()
    garbage.data = .garbage
    #expect(throws: MF4HeaderError.badBlock(at: 4096 + 48, expected: "deflated data")) { try Self.read(garbage.bytes) }
    // Truncated files, at every length up to the first record.
    let whole = SyntheticMF4().bytes
    for length in stride(from: 0, to: whole.count, by: 7) {
      do { _ = try Self.read(Array(whole[0..<length])) } catch is MF4HeaderError {}
    }
  }

  /// 20,000 seeded mutations of a real file: each parses or gives an MF4HeaderError, within
  /// the read bound.
  @Test func mutatedRealFilesNeverCrash() throws {
    let original = try Fixtures.bytes(Self.samples[0])
    var rng = SplitMix64(seed: 15)
    var errors = 0
    for _ in 0..<20_000 {
      var bytes = Array(original.prefix(110_000))
      for _ in 0..<(1 + Int(rng.next() % 8)) {
        // Mostly the header region, where the links are.
        let at = Int(rng.next() % (rng.next() % 2 == 0 ? 2_048 : UInt64(bytes.count)))
        bytes[at] = UInt8(truncatingIfNeeded: rng.next())
      }
      do {
        let (_, reads) = try Self.read(bytes)
        #expect(reads <= MF4HeaderReader.maxReads)
      } catch is MF4HeaderError {
        errors += 1
      }
    }
    #expect(errors > 0)
  }
}

extension [UInt8] {
  /// Sets `hd_start_time_ns` (file offset 136).
  mutating func rewriteSessionStart(_ nanoseconds: UInt64) {
    for i in 0..<8 { self[136 + i] = UInt8(truncatingIfNeeded: nanoseconds >> (8 * UInt64(i))) }
  }
}

/// A minimal unfinalized MF4 built block by block: ID, HD, one DG with one CG whose master
/// channel is a 48-bit microsecond counter, and a DT with one record at 2.5 s. Its fields
/// make it hostile.
struct SyntheticMF4 {
  var dataAt: UInt64 = 4096
  var dataGroupLink: UInt64 = 0x200
  var hdLength: UInt64 = 104
  var loopChannelGroups = false
  var dataGroupLoops = false
  var spreadBlocks = false
  var firstRecordID: UInt8 = 1
  /// Channels without a time master before the master one, each in a window of its own.
  var spreadChannels = 0
  var data = DataBlock.stored

  /// How the data group's two records (2.5 s and 3.5 s) are stored.
  enum DataBlock {
    case stored
    /// A DZ block, deflated (zlib's stored blocks), or transposed (9 columns: a record's bytes).
    case deflated, transposed
    /// A transposed DZ block that claims this many bytes.
    case transposedClaiming(UInt64)
    /// A DZ block whose data is not zlib.
    case garbage
  }

  /// The records' bytes: ID 1, a 48-bit microsecond time, two bytes of padding.
  static let records: [UInt8] = [1, 0xA0, 0x25, 0x26, 0, 0, 0, 0, 0] + [1, 0xE0, 0x67, 0x35, 0, 0, 0, 0, 0]

  /// A zlib stream of `bytes` in one stored (uncompressed) deflate block.
  static func zlibStored(_ bytes: [UInt8]) -> [UInt8] {
    let n = UInt16(bytes.count)
    var a: UInt32 = 1
    var b: UInt32 = 0
    for x in bytes {
      a = (a + UInt32(x)) % 65_521
      b = (b + a) % 65_521
    }
    let adler = (b << 16) | a
    return [0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + bytes
      + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: adler >> $0) }
  }

  var bytes: [UInt8] {
    let dg: UInt64 = dataGroupLink
    let cg: UInt64 = spreadBlocks ? 200_000 : 0x280
    let cn: UInt64 = spreadBlocks ? 400_000 : 0x340
    let cc: UInt64 = spreadBlocks ? 600_000 : 0x440
    var file = [UInt8](repeating: 0, count: Int(dataAt) + 24 + 16)
    func put(_ value: UInt64, _ width: Int, at: Int) {
      for i in 0..<width { file[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
    func block(_ id: String, at offset: UInt64, length: UInt64, links: [UInt64]) -> Int {
      let o = Int(offset)
      if file.count < o + Int(min(length, 4096)) { file += [UInt8](repeating: 0, count: o + Int(min(length, 4096)) - file.count) }
      for (i, b) in Array("##\(id)".utf8).enumerated() { file[o + i] = b }
      put(length, 8, at: o + 8)
      put(UInt64(links.count), 8, at: o + 16)
      for (i, link) in links.enumerated() { put(link, 8, at: o + 24 + 8 * i) }
      return o + 24 + 8 * links.count
    }
    for (i, b) in Array("UnFinMF 4.11    ".utf8).enumerated() { file[i] = b }
    let hd = block("HD", at: 64, length: hdLength, links: [dg, 0, 0, 0, 0, 0])
    put(1_764_547_200_000_000_000, 8, at: hd)
    var d = block("DG", at: dg == 0x200 ? dg : 0x200, length: 64, links: [dataGroupLoops ? 0x200 : 0, cg, dataAt, 0])
    file[d] = 1
    d = block("CG", at: cg, length: 104, links: [loopChannelGroups ? cg : 0, cn, 0, 0, 0, 0])
    put(1, 8, at: d)
    put(8, 4, at: d + 24)
    // Channels before the master, each 64 KiB from the last.
    var channel = cn
    for i in 0..<spreadChannels {
      let next = 1_000_000 + UInt64(i + 1) * 65_536
      _ = block("CN", at: channel, length: 160, links: [next, 0, 0, 0, 0, 0, 0, 0])
      channel = next
    }
    d = block("CN", at: channel, length: 160, links: [0, 0, 0, 0, cc, 0, 0, 0])
    file[d] = 2
    file[d + 1] = 1
    put(48, 4, at: d + 8)
    d = block("CC", at: cc, length: 96, links: [0, 0, 0, 0])
    file[d] = 1
    put(2, 2, at: d + 6)
    put(1e-6.bitPattern, 8, at: d + 32)
    var records = Self.records
    records[0] = firstRecordID
    func dz(_ zipType: UInt8, _ original: UInt64, _ payload: [UInt8]) {
      let d = block("DZ", at: dataAt, length: 48 + UInt64(payload.count), links: [])
      if file.count < d + 24 + payload.count { file += [UInt8](repeating: 0, count: d + 24 + payload.count - file.count) }
      file[d] = UInt8(ascii: "D")
      file[d + 1] = UInt8(ascii: "T")
      file[d + 2] = zipType
      put(zipType == 1 ? 9 : 0, 4, at: d + 4)
      put(original, 8, at: d + 8)
      put(UInt64(payload.count), 8, at: d + 16)
      file.replaceSubrange((d + 24)..<(d + 24 + payload.count), with: payload)
    }
    let transposed = (0..<9).flatMap { column in [records[column], records[9 + column]] }
    switch data {
    case .stored:
      d = block("DT", at: dataAt, length: 24, links: [])
      if file.count < d + records.count { file += [UInt8](repeating: 0, count: d + records.count - file.count) }
      file.replaceSubrange(d..<(d + records.count), with: records)
    case .deflated: dz(0, UInt64(records.count), Self.zlibStored(records))
    case .transposed: dz(1, UInt64(records.count), Self.zlibStored(transposed))
    case .transposedClaiming(let size): dz(1, size, Self.zlibStored(transposed))
    case .garbage: dz(0, UInt64(records.count), [0x12, 0x34] + records)
    }
    return file
  }
}
