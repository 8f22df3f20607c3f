import Digest
import Foundation
import S3
import TestSupport
import Testing

/// The S3 client and the mount on three real S3 servers: SeaweedFS (scripts/s3-server, which
/// the rest of the suite uses too), `rclone serve s3` (scripts/rclone-server), which answers a
/// ranged GET with 200 and a Content-Range and ignores conditional PUT, and moto's server
/// (scripts/moto-server).
/// Every read shape through the mount gives the exact bytes; listing, keys, metadata, DELETE
/// and the lost-update check work on each.
@Suite(.serialized) struct CrossServerTests {
  enum Server: String, CaseIterable, CustomTestStringConvertible {
    case seaweedfs, rclone, moto
    var testDescription: String { rawValue }
    var endpointVariable: String {
      self == .seaweedfs ? "EDGEMOUNT_TEST_ENDPOINT" : "EDGEMOUNT_\(rawValue.uppercased())_ENDPOINT"
    }
    /// What docs/s3-servers.md says: rclone serve s3 ignores If-Match/If-None-Match on PUT. It
    /// keeps user metadata in memory only (gone when rclone restarts), which this test does not
    /// cross.
    var honoursConditionalPut: Bool { self != .rclone }
  }

  struct NotConfigured: Error, CustomStringConvertible {
    var variable: String
    var description: String { "\(variable) is not set: run the tests with scripts/test, which starts the servers" }
  }

  func endpoint(_ server: Server) throws -> String {
    guard let e = ProcessInfo.processInfo.environment[server.endpointVariable] else {
      throw NotConfigured(variable: server.endpointVariable)
    }
    return e
  }

  /// A new bucket, made through the S3 API (rclone caches its folder listings, so a folder made
  /// on disk may stay unseen for minutes).
  func freshBucket(_ server: Server) throws -> S3Client {
    let name = "x\(server.rawValue)-\(UUID().uuidString.prefix(8).lowercased())"
    let s3 = S3Client(
      bucket: name, endpoint: try S3Endpoint(url: try endpoint(server), region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport())
    try s3.createBucket()
    return s3
  }

  func empty(_ s3: S3Client) {
    for object in (try? s3.listAll(prefix: "", delimiter: nil).objects) ?? [] { try? s3.deleteObject(key: object.key) }
  }

  @Test(arguments: Server.allCases)
  func logsReadThroughTheMountAreByteExact(server: Server) throws {
    let s3 = try freshBucket(server)
    defer { empty(s3) }
    let local = FileManager.default.temporaryDirectory.appendingPathComponent("xs-\(UUID())").path
    try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: local) }
    let small = local + "/small.MF4"
    let big = local + "/big.MF4"
    var r = try Command.shell("head -c 6291456 /dev/urandom > \(small) && head -c 1073741824 /dev/urandom > \(big)")
    #expect(r.status == 0, "\(r.stderr)")
    try s3.putObject(key: "A1B2C3D4/device.json", body: Array(#"{"id":"A1B2C3D4"}"#.utf8))
    try s3.putObject(
      key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [UInt8](try Data(contentsOf: URL(fileURLWithPath: small))))
    try s3.putObject(
      key: "A1B2C3D4/00000001/00000002-5E0BE1F3.MF4",
      body: [UInt8](try Data(contentsOf: URL(fileURLWithPath: big), options: .alwaysMapped)))
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: try endpoint(server))
    defer { mount.unmount() }
    let viaMount = mount.file("A1B2C3D4/00000001/")
    // Whole files: a streaming read of each.
    r = try Command.shell("cmp \(small) \(viaMount)00000001-5E0BE100.MF4 && cmp \(big) \(viaMount)00000002-5E0BE1F3.MF4")
    #expect(r.status == 0, "\(server): a whole read differs: \(r.stdout) \(r.stderr)")
    // Ranges from the start, from the middle, across block boundaries, and the tail.
    for (skip, count) in [(0, 1), (1, 3), (5, 1), (511, 2), (1023, 1)] {
      let cmd =
        "cmp <(dd if=\(big) bs=1M skip=\(skip) count=\(count) status=none) <(dd if=\(viaMount)00000002-5E0BE1F3.MF4 bs=1M skip=\(skip) count=\(count) status=none)"
      r = try Command.run(["bash", "-c", cmd])
      #expect(r.status == 0, "\(server): bytes at \(skip) MiB differ: \(r.stdout) \(r.stderr)")
    }
    r = try Command.run(["bash", "-c", "cmp <(tail -c 1000 \(small)) <(tail -c 1000 \(viaMount)00000001-5E0BE100.MF4)"])
    #expect(r.status == 0, "\(r.stdout)")
    // Random 4 KiB reads at odd offsets, as an MF4 reader following its links does.
    let script = """
      import os, random, sys
      random.seed(7)
      a, b = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb')
      size = os.path.getsize(sys.argv[1])
      for _ in range(200):
          off = random.randrange(size - 4096)
          a.seek(off); b.seek(off)
          if a.read(4096) != b.read(4096):
              sys.exit('differs at %d' % off)
      """
    r = try Command.run(["python3", "-c", script, big, viaMount + "00000002-5E0BE1F3.MF4"])
    #expect(r.status == 0, "\(server): \(r.stderr)")
  }

  @Test(arguments: Server.allCases)
  func listingKeysMetadataAndDeleteWork(server: Server) throws {
    let s3 = try freshBucket(server)
    defer { empty(s3) }
    let keys = ["A1B2C3D4/device.json", "A1B2C3D4/00000001/a b+c%d=e&f.txt", "A1B2C3D4/00000001/über.txt", "B2C3D4E5/x"]
    for key in keys { try s3.putObject(key: key, body: Array(key.utf8), metadata: ["fw": "01.09.01"]) }
    let log = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let deviceMetadata = ["hw": "00.02", "fw": "01.09.01", "net": "wifi", "timestamp": "20200101T000000", "put-index": "7"]
    try s3.putObject(key: log, body: Array(repeating: 0x4D, count: 4096), metadata: deviceMetadata)
    let top = try s3.listAll(prefix: "", delimiter: "/")
    #expect(top.commonPrefixes.sorted() == ["A1B2C3D4/", "B2C3D4E5/"])
    let session = try s3.listAll(prefix: "A1B2C3D4/00000001/", delimiter: "/")
    #expect(
      session.objects.map(\.key).sorted() == [
        "A1B2C3D4/00000001/00000001-5E0BE100.MF4", "A1B2C3D4/00000001/a b+c%d=e&f.txt", "A1B2C3D4/00000001/über.txt",
      ])
    for key in keys { #expect(try s3.getObject(key: key) == Array(key.utf8), "\(server): \(key)") }
    #expect(try s3.getObject(key: keys[1], range: 3..<7) == Array(Array(keys[1].utf8)[3..<7]))
    // The mount shows them, names as stored, and their metadata.
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: try endpoint(server))
    defer { mount.unmount() }
    let names = try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001")).sorted()
    #expect(names == ["00000001-5E0BE100.MF4", "a b+c%d=e&f.txt", "über.txt"])
    #expect(try String(contentsOfFile: mount.file("A1B2C3D4/00000001/über.txt"), encoding: .utf8) == keys[2])
    let etag = try Command.run(["getfattr", "--only-values", "-n", "user.s3.etag", mount.file("A1B2C3D4/00000001/über.txt")])
    #expect(etag.stdout == Digest.hex(Digest.md5(Array(keys[2].utf8))), "\(server): \(etag.stdout) \(etag.stderr)")
    let key = try Command.run(["getfattr", "--only-values", "-n", "user.s3.key", mount.file("A1B2C3D4/00000001/über.txt")])
    #expect(key.stdout == keys[2], "\(server): \(key.stderr)")
    // A log's upload metadata, as a device sends it, read through the mount by one HEAD.
    let dump = try Command.run(["getfattr", "-d", "-m", "user.canedge.", "--absolute-names", mount.file(log)])
    #expect(dump.status == 0, "\(server): \(dump.stderr)")
    #expect(try s3.headObject(key: keys[1]).metadata["fw"] == "01.09.01", "\(server)")
    for (name, value) in deviceMetadata {
      let attribute = name == "put-index" ? "put_index" : name
      #expect(dump.stdout.contains("user.canedge.\(attribute)=\"\(value)\""), "\(server): \(dump.stdout)")
    }
    try s3.deleteObject(key: keys[3])
    #expect(throws: S3Error.self) { try s3.headObject(key: keys[3]) }
  }

  /// Conditional PUT where the server honours it; where it does not (rclone), the HEAD before
  /// every save is what keeps another client's edit.
  @Test(arguments: Server.allCases)
  func aConcurrentChangeIsRefusedWithOrWithoutConditionalPut(server: Server) throws {
    let s3 = try freshBucket(server)
    defer { empty(s3) }
    let original = try seedCANedge2Device(s3)
    let key = "A1B2C3D4/config-01.09.json"
    let stale = s3.putObjectCondition(key: key, ifMatch: "00000000000000000000000000000000")
    #expect(
      stale == server.honoursConditionalPut,
      "\(server): conditional PUT honoured: \(!stale), docs say \(server.honoursConditionalPut)")
    try s3.putObject(key: key, body: original)
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: try endpoint(server))
    defer { mount.unmount() }
    // The start-up probe found the same, said so, and left no object behind.
    let status = try String(contentsOfFile: mount.file(".edgemount/status"), encoding: .utf8)
    #expect(status.contains("conditional_put: \(server.honoursConditionalPut ? "honoured" : "ignored")\n"), "\(status)")
    let probes = try s3.listAll(prefix: "", delimiter: nil).objects.filter { $0.key.contains("edgemount-probe") }
    #expect(probes.isEmpty, "\(server): the probe left \(probes.map(\.key))")
    let config = mount.file(key)
    #expect(try Data(contentsOf: URL(fileURLWithPath: config)) == Data(original))  // the mount serves it
    let theirs = original.replacing("\"split_size\": 50", "\"split_size\": 55")
    try s3.putObject(key: key, body: theirs)  // someone else saves
    let mine = FileManager.default.temporaryDirectory.appendingPathComponent("mine-\(UUID()).json")
    try Data(original.replacing("\"split_size\": 50", "\"split_size\": 65")).write(to: mine)
    let r = try Command.run(["cp", mine.path, config])
    #expect(r.status != 0 && r.stderr.contains("busy"), "\(server): \(r.stderr)")
    #expect(try s3.getObject(key: key) == theirs, "\(server): another client's edit was overwritten")
    // An ordinary save still works there.
    _ = try Data(contentsOf: URL(fileURLWithPath: config))
    #expect(try Command.run(["cp", mine.path, config]).status == 0)
    #expect(try s3.getObject(key: key) == original.replacing("\"split_size\": 50", "\"split_size\": 65"))
  }
}

extension S3Client {
  /// Whether a PUT with a wrong If-Match was refused with 412 (and so left the object alone).
  fileprivate func putObjectCondition(key: String, ifMatch: String) -> Bool {
    do {
      try putObject(key: key, body: Array("probe".utf8), condition: .ifMatch(ifMatch))
      return false
    } catch {
      return error.isPreconditionFailed
    }
  }
}
