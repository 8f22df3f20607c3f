import CANedge
import Digest
import Foundation
import TestSupport
import Testing

/// CANedge's compressed and encrypted logs against independent decoders
/// (`Tests/Support/container_oracle.py`: heatshrink2, and Python's cryptography for PBKDF2 and
/// AES-GCM) and mdf_iter: the three real MFC logs, and MFE and MFM files made here.
@Suite struct LogContainerTests {
  static let mfc = MF4HeaderReaderTests.compressed
  static let password = "correct horse battery staple"
  static let oracle = Fixtures.directory.path + "/../Support/container_oracle.py"

  struct Failed: Error, CustomStringConvertible { var description: String }

  /// The oracle's decoding of `bytes` (nil when it refuses, e.g. a failed tag).
  static func oracleDecode(_ bytes: [UInt8], password: String = "") throws -> [UInt8]? {
    let dir = try freshDirectory("container")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Data(bytes).write(to: URL(fileURLWithPath: dir + "/in"))
    let r = try Command.run(["python3", oracle, "decode", dir + "/in", dir + "/out", password])
    guard r.status == 0 else { return nil }
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/out")))
  }

  static func passwords(_ id: String) -> String? { id == "5BC57FEC" ? password : nil }

  static func encrypt(_ payload: [UInt8], password: String = password) -> [UInt8] {
    LogContainer.encrypt(
      payload, password: password, deviceID: 0x5BC5_7FEC, iv: Array(0..<12), salt: Array(100..<116), iterations: 1000)
  }

  @Test(arguments: mfc)
  func theRealMFCLogsDecodeAsHeatshrink2DecodesThem(path: String) throws {
    let bytes = try Fixtures.bytes(path)
    let container = try LogContainer.parse(bytes)
    #expect(container.kind == .compressed(windowBits: 10, lookaheadBits: 4) && container.deviceName == "5BC57FEC")
    let mine = try LogContainer.decode(bytes, password: { _ in nil })
    #expect(mine == (try Self.oracleDecode(bytes)), "differs from heatshrink2")
    #expect(mine.starts(with: Array("UnFinMF ".utf8)))
  }

  /// The decoder fed in pieces of every size gives the same bytes as fed whole.
  @Test func aStreamFedInPiecesDecodesTheSame() throws {
    let bytes = try Fixtures.bytes(Self.mfc[0])
    let whole = try LogContainer.decode(bytes, password: { _ in nil })
    for piece in [1, 7, 4096] {
      var decoder = try HeatshrinkDecoder(windowBits: 10, lookaheadBits: 4)
      var out: [UInt8] = []
      var at = LogContainer.compressedHeaderSize
      while at < bytes.count {
        let end = min(bytes.count, at + piece)
        #expect(decoder.decode(bytes[at..<end], into: &out) == end - at)
        at = end
      }
      #expect(out == whole, "pieces of \(piece)")
    }
    // An output limit stops part way; the rest comes with the input not taken.
    var decoder = try HeatshrinkDecoder(windowBits: 10, lookaheadBits: 4)
    var out: [UInt8] = []
    let stream = bytes[LogContainer.compressedHeaderSize...]
    var taken = 0
    while taken < stream.count {
      taken += decoder.decode(stream.dropFirst(taken), into: &out, limit: out.count + 999)
    }
    _ = decoder.decode(stream[stream.endIndex...], into: &out)
    #expect(out == whole)
  }

  @Test func encryptedAndCompressedEncryptedFilesDecodeAsCryptographyDecodesThem() throws {
    let mfcBytes = try Fixtures.bytes(Self.mfc[0])
    let mf4 = try LogContainer.decode(mfcBytes, password: { _ in nil })
    let mfe = Self.encrypt(mf4)
    let mfm = Self.encrypt(mfcBytes)
    // The oracle checks our encoder; our decoder must agree with it.
    #expect(try Self.oracleDecode(mfe, password: Self.password) == mf4)
    #expect(try Self.oracleDecode(mfm, password: Self.password) == mf4)
    #expect(try LogContainer.decode(mfe, password: Self.passwords) == mf4)
    #expect(try LogContainer.decode(mfm, password: Self.passwords) == mf4)
    // A wrong password, a changed byte or a missing password: refused, no bytes.
    #expect(try Self.oracleDecode(mfe, password: "wrong") == nil)
    #expect(throws: LogContainer.Failure.self) { _ = try LogContainer.decode(mfe, password: { _ in "wrong" }) }
    var tampered = mfe
    tampered[5000] ^= 1
    #expect(throws: LogContainer.Failure.self) { _ = try LogContainer.decode(tampered, password: Self.passwords) }
    #expect(throws: LogContainer.Failure("encrypted by device 5BC57FEC: no password for it (--passwords)")) {
      _ = try LogContainer.decode(mfe, password: { _ in nil })
    }
  }

  /// A header from a prefix: the recording time mdf_iter reads from the whole file, in one
  /// request of 128 KiB.
  @Test(arguments: mfc)
  func theHeaderOfAnMFCComesFromAPrefix(path: String) throws {
    let bytes = try Fixtures.bytes(path)
    let reader = ContainerPrefixReader(objectSize: UInt64(bytes.count), password: { _ in nil }) {
      Array(bytes[Int($0.lowerBound)..<Int($0.upperBound)])
    }
    _ = try reader.bytes(0..<UInt64(MF4HeaderReader.firstReadSize))
    var header = MF4HeaderReader(fileSize: UInt64(reader.complete ? reader.decodedSize : Int.max / 2)) {
      try reader.bytes($0)
    }
    let parsed = try header.read()
    let r = try Command.run(["python3", Self.oracle, "frames", Fixtures.directory.path + "/" + path])
    let line = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let expected = (line?["first_measurement_ns"] as? NSNumber)?.uint64Value ?? 0
    let first = parsed.firstRecordNanoseconds ?? 0
    #expect(expected > 0 && (first > expected ? first - expected : expected - first) < 1_000_000, "\(first) vs \(expected)")
    #expect(reader.requests == 1 && reader.bytesFetched == ContainerPrefixReader.firstFetch)
  }

  @Test func prefixesOfEncryptedLogsNeedThePassword() throws {
    let mfcBytes = try Fixtures.bytes(Self.mfc[1])
    let mf4 = try LogContainer.decode(mfcBytes, password: { _ in nil })
    for file in [Self.encrypt(mf4), Self.encrypt(mfcBytes)] {
      let reader = ContainerPrefixReader(objectSize: UInt64(file.count), password: Self.passwords) {
        Array(file[Int($0.lowerBound)..<Int($0.upperBound)])
      }
      #expect(try reader.bytes(0..<4096) == Array(mf4[0..<4096]))
      #expect(try reader.bytes(100_000..<110_000) == Array(mf4[100_000..<110_000]))
      let locked = ContainerPrefixReader(objectSize: UInt64(file.count), password: { _ in nil }) {
        Array(file[Int($0.lowerBound)..<Int($0.upperBound)])
      }
      #expect(throws: LogContainer.Failure.self) { _ = try locked.bytes(0..<4096) }
    }
  }

  @Test func hostileContainersCostBoundedWorkAndSayWhy() throws {
    let head = LogContainer.magic + [0, 0]
    func compressed(_ lookahead: UInt32, _ window: UInt32, _ body: [UInt8]) -> [UInt8] {
      head + [0x22, 0x01, 0x5B, 0xC5, 0x7F, 0xEC] + LogContainerTests.bytes(lookahead) + LogContainerTests.bytes(window) + body
    }
    #expect(throws: LogContainer.Failure.self) { try LogContainer.parse(Array("Generic Fil".utf8)) }
    #expect(throws: LogContainer.Failure("compression window of 2048 bytes (256, 512 or 1024 expected)")) {
      try LogContainer.parse(compressed(4, 2048, []))
    }
    #expect(throws: LogContainer.Failure("compression look-ahead of 11 bits")) {
      try LogContainer.parse(compressed(11, 1024, []))
    }
    #expect(throws: LogContainer.Failure.self) { try LogContainer.parse(head + [0x33, 0x01, 0, 0, 0, 0]) }
    let iterations =
      head + [0x11, 0x01, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 12) + Self.bytes(0xFFFF_FFFF)
      + [UInt8](repeating: 0, count: 16)
    #expect(throws: LogContainer.Failure("PBKDF2 iteration count 4294967295")) { try LogContainer.parse(iterations) }
    // Back-references of the longest count (tag 0, index 0, count all ones): 1,024 bytes from
    // 21 bits. Stopped at 16 times the input plus 1 MiB.
    var bits: [Bool] = []
    for _ in 0..<40_000 { bits += [false] + Array(repeating: false, count: 10) + Array(repeating: true, count: 10) }
    let packed = stride(from: 0, to: bits.count, by: 8).map { start in
      (0..<8).reduce(UInt8(0)) { $0 << 1 | (start + $1 < bits.count && bits[start + $1] ? 1 : 0) }
    }
    let bomb = compressed(10, 1024, packed)
    #expect(throws: LogContainer.Failure.self) { _ = try LogContainer.decode(bomb, password: { _ in nil }) }
    // Cut short anywhere: a shorter output or a reason, never a crash.
    let real = try Fixtures.bytes(Self.mfc[2])
    for cut in [0, 19, 27, 28, 29, 1000, 100_003] {
      _ = try? LogContainer.decode(Array(real.prefix(cut)), password: { _ in nil })
    }
    let mfe = Self.encrypt(Array(repeating: 1, count: 100))
    for cut in [51, 52, 67, 68, 100] {
      #expect(throws: LogContainer.Failure.self) { _ = try LogContainer.decode(Array(mfe.prefix(cut)), password: Self.passwords) }
    }
  }

  static func bytes(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
}
