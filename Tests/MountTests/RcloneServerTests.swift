import Foundation
import S3
import TestSupport
import Testing

/// A second real S3 server: `rclone serve s3` (scripts/rclone-server), which answers a ranged
/// GET with 200 and a Content-Range. Every read shape through the mount must give the exact
/// bytes, and the client's listing, keys and metadata must work there too.
@Suite(.serialized) struct RcloneServerTests {
  struct NotConfigured: Error, CustomStringConvertible {
    var description: String { "EDGEMOUNT_RCLONE_ENDPOINT/EDGEMOUNT_RCLONE_DATA are not set: run the tests with scripts/test" }
  }

  let endpoint: String
  let data: String

  init() throws {
    let env = ProcessInfo.processInfo.environment
    guard let e = env["EDGEMOUNT_RCLONE_ENDPOINT"], let d = env["EDGEMOUNT_RCLONE_DATA"] else { throw NotConfigured() }
    endpoint = e
    data = d
  }

  func client(_ bucket: String) throws -> S3Client {
    S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: endpoint, region: "us-east-1"), credentials: try TestS3.credentials,
      transport: CurlTransport())
  }

  /// A new bucket, made through the S3 API (rclone caches its folder listings, so a folder made
  /// on disk may stay unseen for minutes).
  func freshBucket() throws -> (String, S3Client) {
    let name = "rc-\(UUID().uuidString.prefix(8).lowercased())"
    let s3 = try client(name)
    try s3.createBucket()
    return (name, s3)
  }

  @Test func logsReadThroughTheMountAreByteExactOnRclone() throws {
    let (bucket, s3) = try freshBucket()
    defer { try? FileManager.default.removeItem(atPath: data + "/" + bucket) }
    let local = FileManager.default.temporaryDirectory.appendingPathComponent("rc-\(UUID())").path
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
    let mount = try MountedBucket(bucket: bucket, endpoint: endpoint)
    defer { mount.unmount() }
    let viaMount = mount.file("A1B2C3D4/00000001/")
    // Whole files: a streaming read of each.
    r = try Command.shell("cmp \(small) \(viaMount)00000001-5E0BE100.MF4 && cmp \(big) \(viaMount)00000002-5E0BE1F3.MF4")
    #expect(r.status == 0, "a whole read differs: \(r.stdout) \(r.stderr)")
    // Ranges from the start, from the middle, across block boundaries, and the tail.
    for (skip, count) in [(0, 1), (1, 3), (5, 1), (511, 2), (1023, 1)] {
      let cmd =
        "cmp <(dd if=\(big) bs=1M skip=\(skip) count=\(count) status=none) <(dd if=\(viaMount)00000002-5E0BE1F3.MF4 bs=1M skip=\(skip) count=\(count) status=none)"
      r = try Command.run(["bash", "-c", cmd])
      #expect(r.status == 0, "bytes at \(skip) MiB differ: \(r.stdout) \(r.stderr)")
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
    #expect(r.status == 0, "\(r.stderr)")
  }

  @Test func listingKeysAndMetadataWorkOnRclone() throws {
    let bucket = "rc-\(UUID().uuidString.prefix(8).lowercased())"
    defer { try? FileManager.default.removeItem(atPath: data + "/" + bucket) }
    let s3 = try client(bucket)
    try s3.createBucket()
    let keys = ["A1B2C3D4/device.json", "A1B2C3D4/00000001/a b+c%d=e&f.txt", "A1B2C3D4/00000001/über.txt", "B2C3D4E5/x"]
    for key in keys { try s3.putObject(key: key, body: Array(key.utf8), metadata: ["fw": "01.09.01"]) }
    let top = try s3.listAll(prefix: "", delimiter: "/")
    #expect(top.commonPrefixes.sorted() == ["A1B2C3D4/", "B2C3D4E5/"])
    let session = try s3.listAll(prefix: "A1B2C3D4/00000001/", delimiter: "/")
    #expect(session.objects.map(\.key).sorted() == ["A1B2C3D4/00000001/a b+c%d=e&f.txt", "A1B2C3D4/00000001/über.txt"])
    for key in keys { #expect(try s3.getObject(key: key) == Array(key.utf8), "\(key)") }
    #expect(try s3.getObject(key: keys[1], range: 3..<7) == Array(keys[1].utf8)[3..<7].map { $0 })
    // The mount shows them, names as stored.
    let mount = try MountedBucket(bucket: bucket, endpoint: endpoint)
    defer { mount.unmount() }
    let names = try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001")).sorted()
    #expect(names == ["a b+c%d=e&f.txt", "über.txt"])
    #expect(try String(contentsOfFile: mount.file("A1B2C3D4/00000001/über.txt"), encoding: .utf8) == keys[2])
    try s3.deleteObject(key: keys[3])
    #expect(throws: S3Error.self) { try s3.headObject(key: keys[3]) }
  }

  /// rclone's server ignores If-Match and If-None-Match on PUT: the HEAD before every save is
  /// what keeps another client's edit there.
  @Test func aConcurrentChangeIsRefusedOnAServerWithoutConditionalPut() throws {
    let (bucket, s3) = try freshBucket()
    defer { try? FileManager.default.removeItem(atPath: data + "/" + bucket) }
    let original = try seedCANedge2Device(s3)
    let mount = try MountedBucket(bucket: bucket, endpoint: endpoint)
    defer { mount.unmount() }
    let config = mount.file("A1B2C3D4/config-01.09.json")
    #expect(try Data(contentsOf: URL(fileURLWithPath: config)) == Data(original))  // the mount serves it
    let theirs = original.replacing("\"split_size\": 50", "\"split_size\": 55")
    try s3.putObject(key: "A1B2C3D4/config-01.09.json", body: theirs)  // someone else saves
    let mine = FileManager.default.temporaryDirectory.appendingPathComponent("mine-\(UUID()).json")
    try Data(original.replacing("\"split_size\": 50", "\"split_size\": 65")).write(to: mine)
    let r = try Command.run(["cp", mine.path, config])
    #expect(r.status != 0 && r.stderr.contains("busy"), "\(r.stderr)")
    #expect(try s3.getObject(key: "A1B2C3D4/config-01.09.json") == theirs, "another client's edit was overwritten")
    // An ordinary save still works there.
    _ = try Data(contentsOf: URL(fileURLWithPath: config))
    #expect(try Command.run(["cp", mine.path, config]).status == 0)
    #expect(try s3.getObject(key: "A1B2C3D4/config-01.09.json") == original.replacing("\"split_size\": 50", "\"split_size\": 65"))
  }
}
