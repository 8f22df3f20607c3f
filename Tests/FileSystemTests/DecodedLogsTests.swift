import CANedge
import Cache
import DemoFleet
import Foundation
import Locking
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// `--decode` in the core, on the in-memory S3: compressed and encrypted logs shown as the MF4
/// inside, with exact sizes, the bytes of the independent decoder, and EIO when they cannot be
/// decoded.
@Suite struct DecodedLogsTests {
  static let password = "correct horse battery staple"

  struct Fleet {
    let server = InMemoryS3()
    let mf4: [[UInt8]]
    let passwords: String

    init() throws {
      let mfc = try Fixtures.bytes("bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC")
      let mfc2 = try Fixtures.bytes("bucket-sample/5BC57FEC/00000001/00000006-643E5292.MFC")
      let inner = try LogContainer.decode(mfc, password: { _ in nil })
      let inner2 = try LogContainer.decode(mfc2, password: { _ in nil })
      mf4 = [inner, inner2, inner]
      func encrypt(_ payload: [UInt8]) -> [UInt8] {
        LogContainer.encrypt(
          payload, password: DecodedLogsTests.password, deviceID: 0x5BC5_7FEC, iv: Array(0..<12), salt: Array(50..<66),
          iterations: 1000)
      }
      server.put("fleet", "5BC57FEC/00000001/00000005-643E503A.MFC", mfc)
      server.put("fleet", "5BC57FEC/00000001/00000006-643E5292.MFE", encrypt(inner2))
      server.put("fleet", "5BC57FEC/00000001/00000007-643E54EA.MFM", encrypt(mfc))
      let dir = try freshDirectory("passwords")
      passwords = dir + "/passwords.json"
      FileManager.default.createFile(
        atPath: passwords, contents: Data(#"{"default": "nope", "5BC57FEC": "\#(DecodedLogsTests.password)"}"#.utf8),
        attributes: [.posixPermissions: 0o600])
    }

    func fileSystem(passwords path: String?, decode: Bool = true) throws -> FleetFileSystem {
      var settings = MountSettings()
      settings.decode = decode
      return FleetFileSystem(
        s3: server.client(bucket: "fleet"), settings: settings, passwords: try path.map { try DevicePasswords(path: $0) },
        logger: Logger(label: "decode") { _ in SwiftLogNoOpLogHandler() })
    }
  }

  func read(_ fs: FleetFileSystem, _ path: String) throws -> [UInt8] {
    let ino = try ByDateViewTests().lookup(fs, path).ino
    let handle = try fs.open(ino: ino, flags: O_RDONLY).handle
    defer { fs.release(handle: handle) }
    var out: [UInt8] = []
    while true {
      let chunk = try fs.read(handle: handle, offset: UInt64(out.count), count: 1 << 20).bytes
      if chunk.isEmpty { return out }
      out += chunk
    }
  }

  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func everyContainerIsShownAsTheMF4InsideWithItsExactSize() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem(passwords: fleet.passwords)
    let names = try ByDateViewTests().names(fs, "5BC57FEC/00000001")
    #expect(names == ["00000005-643E503A.MF4", "00000006-643E5292.MF4", "00000007-643E54EA.MF4"])
    for (name, expected) in zip(names, fleet.mf4) {
      let attributes = try ByDateViewTests().lookup(fs, "5BC57FEC/00000001/\(name)")
      #expect(attributes.size == UInt64(expected.count), "\(name)")
      #expect(try read(fs, "5BC57FEC/00000001/\(name)") == expected, "\(name)")
    }
    // The stored object and the time attributes are the same log's.
    let ino = try ByDateViewTests().lookup(fs, "5BC57FEC/00000001/00000007-643E54EA.MF4").ino
    #expect(try fs.extendedAttribute(ino: ino, name: "user.s3.key") == "5BC57FEC/00000001/00000007-643E54EA.MFM")
    #expect(try fs.extendedAttribute(ino: ino, name: "user.canedge.time_source") == "header")
    #expect(fs.statusText(.status).contains("decode: on"))
  }

  @Test func withoutThePasswordEncryptedLogsAreShownAsStored() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem(passwords: nil)
    #expect(
      try ByDateViewTests().names(fs, "5BC57FEC/00000001") == [
        "00000005-643E503A.MF4", "00000006-643E5292.MFE", "00000007-643E54EA.MFM",
      ])
    let stored = try read(fs, "5BC57FEC/00000001/00000006-643E5292.MFE")
    #expect(stored == fleet.server.object("fleet", "5BC57FEC/00000001/00000006-643E5292.MFE")?.bytes)
    // Without --decode, everything as stored.
    let plain = try fleet.fileSystem(passwords: fleet.passwords, decode: false)
    #expect(try ByDateViewTests().names(plain, "5BC57FEC/00000001").allSatisfy { !$0.hasSuffix(".MF4") })
  }

  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func aWrongPasswordReadsEIOWithTheReasonNeverGarbage() throws {
    let fleet = try Fleet()
    let wrong = try freshDirectory("wrong") + "/passwords.json"
    FileManager.default.createFile(
      atPath: wrong, contents: Data(#"{"5BC57FEC": "wrong"}"#.utf8), attributes: [.posixPermissions: 0o600])
    let fs = try fleet.fileSystem(passwords: wrong)
    for name in ["00000006-643E5292.MF4", "00000007-643E54EA.MF4"] {
      #expect(throws: FSError.self) { _ = try read(fs, "5BC57FEC/00000001/\(name)") }
      do {
        _ = try read(fs, "5BC57FEC/00000001/\(name)")
      } catch {
        #expect((error as? FSError)?.errno == EIO, "\(error)")
      }
    }
    #expect(fs.statusText(.errors).contains("the GCM tag does not match"))
  }

  @Test func aPasswordFileOthersCanReadIsRefused() throws {
    let fleet = try Fleet()
    chmod(fleet.passwords, 0o644)
    #expect(throws: DevicePasswords.Refusal.self) { _ = try DevicePasswords(path: fleet.passwords) }
    chmod(fleet.passwords, 0o600)
    let store = try DevicePasswords(path: fleet.passwords)
    #expect(store.password(for: "5bc57fec") == Self.password && store.password(for: "AAAAAAAA") == "nope")
    #expect(!store.summary.contains(Self.password))
  }

  /// Decoded sizes are found once per key and ETag: kept in --cache-dir, a remount lists the
  /// session without downloading a log.
  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func decodedSizesAreKeptInTheCacheFolder() throws {
    let fleet = try Fleet()
    let dir = try freshDirectory("decodedsizes")
    var settings = MountSettings()
    settings.decode = true
    func mount() throws -> FleetFileSystem {
      FleetFileSystem(
        s3: fleet.server.client(bucket: "fleet"), settings: settings, headerStore: try HeaderRecordStore.open(directory: dir),
        passwords: try DevicePasswords(path: fleet.passwords), logger: Logger(label: "decode") { _ in SwiftLogNoOpLogHandler() })
    }
    let first = try mount()
    let sizes = try ByDateViewTests().names(first, "5BC57FEC/00000001").map {
      try ByDateViewTests().lookup(first, "5BC57FEC/00000001/\($0)").size
    }
    #expect(sizes == fleet.mf4.map { UInt64($0.count) })
    let before = fleet.server.requestLog.filter { $0.hasPrefix("GET 5BC57FEC") }.count
    #expect(before >= 2, "the MFC and the MFM are decoded for their sizes")
    let second = try mount()
    let again = try ByDateViewTests().names(second, "5BC57FEC/00000001").map {
      try ByDateViewTests().lookup(second, "5BC57FEC/00000001/\($0)").size
    }
    #expect(again == sizes)
    #expect(fleet.server.requestLog.filter { $0.hasPrefix("GET 5BC57FEC") }.count == before, "a log was read again")
  }

  /// A password file is read again when it changes; a changed file that cannot be used keeps
  /// the passwords read before and says why.
  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func thePasswordsFileIsReadAgainWhenItChanges() throws {
    let fleet = try Fleet()
    let store = try DevicePasswords(path: fleet.passwords)
    let said = Locked<[String]>([])
    store.reporter.withLock { $0 = { line in said.withLock { $0.append(line) } } }
    #expect(store.password(for: "5BC57FEC") == Self.password)
    Thread.sleep(forTimeInterval: 1.1)
    try Data(#"{"5BC57FEC": "new one"}"#.utf8).write(to: URL(fileURLWithPath: fleet.passwords))
    #expect(store.password(for: "5BC57FEC") == "new one" && store.password(for: "AAAAAAAA") == nil)
    Thread.sleep(forTimeInterval: 1.1)
    try Data("{not json".utf8).write(to: URL(fileURLWithPath: fleet.passwords))
    #expect(store.password(for: "5BC57FEC") == "new one")
    #expect(said.withLock { $0 }.count == 1 && said.withLock { $0 }.first?.contains("not valid JSON") == true)
    #expect(!said.withLock { $0 }.joined().contains("new one"))
  }

  /// Dating a compressed log costs one ranged GET of its first 128 KiB.
  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func anMFCHeaderCostsOneRangedGETOf128KiB() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem(passwords: nil, decode: false)
    let ino = try ByDateViewTests().lookup(fs, "5BC57FEC/00000001/00000005-643E503A.MFC").ino
    let before = fs.statusText(.status)
    #expect(try fs.extendedAttribute(ino: ino, name: "user.canedge.time_source") == "header")
    let gets = fleet.server.requestLog.filter { $0 == "GET 5BC57FEC/00000001/00000005-643E503A.MFC" }.count
    #expect(gets == 1)
    func bytes(_ status: String) -> Int {
      Int(status.split(separator: "\n").first { $0.hasPrefix("bytes_downloaded: ") }?.dropFirst(18) ?? "") ?? -1
    }
    #expect(bytes(fs.statusText(.status)) - bytes(before) == 128 * 1024)
  }
}
