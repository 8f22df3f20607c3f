import CANedge
import Testing

@testable import FileSystem

@Suite struct InodeTableTests {
  /// A fleet as a listing builds it: devices, sessions, log files with MD5 ETags.
  func fleet(devices: Int, sessions: Int, splits: Int) -> (InodeTable, [UInt64]) {
    var table = InodeTable(rootPrefix: "")
    var logs: [UInt64] = []
    for d in 0..<devices {
      let id = String(format: "%08X", 0xA000_0000 + d)
      let device = table.upsert(parent: InodeTable.rootIno, name: id, kind: .device(DeviceID(id)!), key: id + "/")
      for s in 1...sessions {
        let session = String(format: "%08d", s)
        let sessionIno = table.upsert(parent: device, name: session, kind: .session, key: "\(id)/\(session)/")
        for f in 1...splits {
          let name = String(format: "%08d-5E0BE100.MF4", f)
          logs.append(
            table.upsert(parent: sessionIno, name: name, kind: .object(.log), key: "\(id)/\(session)/\(name)") {
              $0.size = UInt64(f * 1024)
              $0.etag = String(format: "%032x", d * 1_000_000 + s * 1000 + f)
              $0.mtime = 1_577_836_800
              $0.onServer = true
            })
        }
      }
    }
    return (table, logs)
  }

  @Test func aListedObjectReadsBackAsItWasStored() throws {
    let (table, logs) = fleet(devices: 2, sessions: 3, splits: 4)
    let node = try #require(table[logs[5]])
    #expect(node.name == "00000002-5E0BE100.MF4")
    #expect(node.key == "A0000000/00000002/00000002-5E0BE100.MF4")
    #expect(node.etag == String(format: "%032x", 2002))
    #expect(node.size == 2048 && node.mtime == 1_577_836_800 && node.onServer && node.present)
    #expect(node.kind == .object(.log))
    let device = try #require(table.child(of: InodeTable.rootIno, named: "A0000001"))
    #expect(device.kind == .device(DeviceID("A0000001")!) && device.key == "A0000001/")
  }

  @Test func etagsThatDoNotPackAreKeptWhole() throws {
    var table = InodeTable(rootPrefix: "fleet/")
    for etag in ["", "9b2cf535f27731c974343645a3985328-17", "ABCDEF0123456789ABCDEF0123456789", "\"quoted\"", "é"] {
      let ino = table.upsert(parent: InodeTable.rootIno, name: "f" + etag, kind: .object(.other), key: "elsewhere/x") {
        $0.etag = etag
      }
      let node = try #require(table[ino])
      #expect(node.etag == etag)
      #expect(node.key == "elsewhere/x", "a key that is not parent + name is stored")
    }
  }

  @Test func keysFollowTheRootPrefixAndExplicitKeysStay() throws {
    var table = InodeTable(rootPrefix: "fleet/")
    let device = table.upsert(
      parent: InodeTable.rootIno, name: "A1B2C3D4", kind: .device(DeviceID("A1B2C3D4")!), key: "fleet/A1B2C3D4/")
    let scratch = table.upsert(parent: device, name: ".config.swp", kind: .object(.scratch), key: "")
    #expect(table[device]?.key == "fleet/A1B2C3D4/")
    #expect(table[scratch]?.key == "")
    #expect(table[InodeTable.rootIno]?.key == "fleet/")
  }

  @Test func namesAreComparedByteForByte() throws {
    var table = InodeTable(rootPrefix: "")
    let composed = table.upsert(parent: 1, name: "caf\u{E9}", kind: .object(.other), key: "caf\u{E9}")
    let decomposed = table.upsert(parent: 1, name: "cafe\u{301}", kind: .object(.other), key: "cafe\u{301}")
    #expect(composed != decomposed)
    #expect(table.child(of: 1, named: "caf\u{E9}")?.ino == composed)
    #expect(table.child(of: 1, named: "cafe\u{301}")?.ino == decomposed)
  }

  @Test func aPathKeepsItsNumberAcrossListingsAndVanishings() throws {
    var (table, logs) = fleet(devices: 1, sessions: 1, splits: 3)
    let session = try #require(table[logs[0]]).parent
    table.retain(childrenOf: session, keep: [logs[0]])
    #expect(table.presentChildren(of: session).map(\.name) == ["00000001-5E0BE100.MF4"])
    #expect(table[logs[1]]?.present == false && table[logs[1]]?.onServer == false)
    let again = table.upsert(parent: session, name: "00000002-5E0BE100.MF4", kind: .object(.log), key: "x")
    #expect(again == logs[1])
    #expect(table[again]?.present == true)
  }

  @Test func moveAndReserveDetachTheFormerHolderOfTheName() throws {
    var table = InodeTable(rootPrefix: "")
    let device = table.upsert(parent: 1, name: "A1B2C3D4", kind: .device(DeviceID("A1B2C3D4")!), key: "A1B2C3D4/")
    let config = table.upsert(
      parent: device, name: "config-01.09.json", kind: .object(.deviceFile(.other)), key: "A1B2C3D4/config-01.09.json")
    let temp = table.upsert(parent: device, name: "config.tmp", kind: .object(.scratch), key: "")
    table.move(temp, to: "config-01.09.json", kind: .object(.deviceFile(.other)), key: "A1B2C3D4/config-01.09.json")
    #expect(table.child(of: device, named: "config-01.09.json")?.ino == temp)
    #expect(table.child(of: device, named: "config.tmp") == nil)
    #expect(table[config]?.present == false)
    #expect(table[temp]?.key == "A1B2C3D4/config-01.09.json")
    let placeholder = table.reserve(parent: device, name: "config-01.09.json", kind: .object(.deviceFile(.other)), key: "k")
    #expect(table.child(of: device, named: "config-01.09.json")?.ino == placeholder)
    #expect(table.presentChildren(of: device).map(\.ino) == [placeholder])
  }

  @Test func servedETagAndLookupsRoundTrip() throws {
    var (table, logs) = fleet(devices: 1, sessions: 1, splits: 1)
    table[logs[0]]?.servedETag = "abc"
    table.addLookups(logs[0], 3)
    table.dropLookups(logs[0], 1)
    table.dropLookups(logs[0], 10)
    #expect(table[logs[0]]?.servedETag == "abc")
    #expect(table[logs[0]]?.lookups == 0)
    table.addLookups(logs[0], 2)
    #expect(table[logs[0]]?.lookups == 2)
  }

  /// The target is 200 bytes of metadata a listed object; this counts what the table
  /// reserves (capacities), for a fleet shaped like the benchmark's.
  @Test func aListedObjectCostsWellUnder200BytesOfMetadata() {
    let (table, logs) = fleet(devices: 40, sessions: 50, splits: 50)
    #expect(logs.count == 100_000)
    let perObject = Double(table.metadataBytes) / Double(table.count)
    #expect(perObject < 150, "\(perObject) bytes per object")
    #expect(table.child(of: table[logs[99_999]]!.parent, named: "00000050-5E0BE100.MF4")?.ino == logs[99_999])
  }
}

/// `FolderOrder`: the walk's next files and devices, found by position, not by a sort.
@Suite struct FolderOrderTests {
  @Test func theNextLogsInNameOrderSkipVanishedAndOtherNames() throws {
    var (table, logs) = InodeTableTests().fleet(devices: 1, sessions: 1, splits: 9)
    let session = try #require(table[logs[0]]).parent
    // Not in the way: a log that vanished, a non-log name between two logs.
    table.retain(childrenOf: session, keep: Set(logs).subtracting([logs[4]]))
    table.upsert(parent: session, name: "00000003-README.txt", kind: .object(.other), key: "x")
    let order = FolderOrder(table.presentChildren(of: session).filter { $0.kind == .object(.log) })
    #expect(
      order.following(logs[2], limit: 3).map { table[$0]!.name } == [
        "00000004-5E0BE100.MF4", "00000006-5E0BE100.MF4", "00000007-5E0BE100.MF4",
      ])
    #expect(order.isRightBefore(logs[1], logs[2]))
    #expect(!order.isRightBefore(logs[0], logs[2]))
    #expect(order.isRightBefore(logs[3], logs[5]), "the vanished log is not between them")
    #expect(order.following(logs[8], limit: 3).isEmpty)
  }
}
