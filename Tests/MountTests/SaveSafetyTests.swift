import Foundation
import S3
import TestSupport
import Testing

/// Saves you can trust, through a real mount: a config the device's own parser could read
/// differently is refused, a second save on one descriptor is an update, a write during a
/// commit is never dropped, and the kernel never serves a stale config.
@Suite(.serialized) struct SaveSafetyTests {
  static let device = "A1B2C3D4"
  static let configName = "config-01.09.json"
  static let key = "\(device)/\(configName)"

  let s3: S3Client
  let original: [UInt8]

  init() throws {
    s3 = try TestS3.freshBucket("safe")
    original = try seedCANedge2Device(s3, id: Self.device)
  }

  func replacing(_ old: String, _ new: String) -> [UInt8] { original.replacing(old, new) }
  var serverBytes: [UInt8] { get throws { try s3.getObject(key: Self.key) } }
  func errors(_ mount: MountedBucket) -> String {
    (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? ""
  }

  func local(_ bytes: [UInt8]) throws -> String { try temporaryFile(bytes, named: "save.json") }

  @Test func lenientJSONIsRefusedWithItsReason() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    let text = String(decoding: original, as: UTF8.self)
    // The last member of the top-level object, with a comma after it.
    let lastBrace = text.lastIndex(of: "}")!
    let trailing = Array((text[..<lastBrace].trimmingCharacters(in: .whitespacesAndNewlines) + ",\n}\n").utf8)
    let duplicate = Array(
      text.replacingOccurrences(of: "{\n", with: "{\n  \"log\": {},\n", options: [], range: text.range(of: "{\n")).utf8)
    let bom = [0xEF, 0xBB, 0xBF] + original
    for (what, bytes, reason) in [
      ("trailing comma", trailing, "trailing comma"), ("duplicate member", duplicate, "appears twice"),
      ("byte order mark", bom, "byte order mark"),
    ] {
      // Python's own json takes the first two: the strict parser is what refuses them.
      let r = try Command.run(["cp", try local(bytes), config])
      #expect(r.status != 0 && r.stderr.contains("Invalid argument"), "\(what): \(r.stderr)")
      #expect(try serverBytes == original, "\(what) reached the server")
      #expect(errors(mount).contains(reason), "\(what): \(errors(mount))")
    }
    // sed -i leaving a comma after the last member of an object: refused at its rename.
    let sed = try Command.run(["sed", "-i", "s/\"cyclic\": 1$/\"cyclic\": 1,/", config])
    #expect(sed.status != 0, "sed -i with a trailing comma succeeded")
    #expect(try serverBytes == original)
  }

  @Test func writeFsyncWriteCloseSavesBothTimes() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    let first = replacing("\"split_size\": 50", "\"split_size\": 60")
    let second = replacing("\"split_size\": 50", "\"split_size\": 70")
    let script = """
      import os, sys
      a, b = open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
      fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
      os.write(fd, a)
      os.fsync(fd)
      os.lseek(fd, 0, os.SEEK_SET)
      os.write(fd, b)
      os.close(fd)
      """
    let r = try Command.run(["python3", "-c", script, config, try local(first), try local(second)])
    #expect(r.status == 0, "the second save of one descriptor failed: \(r.stderr)")
    #expect(try serverBytes == second)
    #expect(!errors(mount).contains("conflict"), "\(errors(mount))")
  }

  @Test func twoDupedDescriptorsSaveTheLastContent() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    let first = replacing("\"split_size\": 50", "\"split_size\": 61")
    let second = replacing("\"split_size\": 50", "\"split_size\": 62")
    let script = """
      import os, sys
      a, b = open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
      fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
      fd2 = os.dup(fd)
      os.write(fd, a)
      os.close(fd)          # commits a
      os.lseek(fd2, 0, os.SEEK_SET)
      os.write(fd2, b)
      os.close(fd2)         # commits b: an update, not a conflict
      """
    let r = try Command.run(["python3", "-c", script, config, try local(first), try local(second)])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try serverBytes == second)
  }

  /// One thread closes a descriptor (a commit: listing, schema, validation, PUT) while another
  /// writes through a dup of it and closes that: the second content must end on the server,
  /// whether the write landed before, during or after the first commit.
  @Test func aWriteDuringACommitIsSavedByTheNextClose() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    for round in 0..<5 {
      let first = replacing("\"split_size\": 50", "\"split_size\": \(63 + round * 2)")
      let second = replacing("\"split_size\": 50", "\"split_size\": \(64 + round * 2)")
      let script = """
        import os, sys, threading, time
        a, b = open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
        fd2 = os.dup(fd)
        os.write(fd, a)
        errors = []
        def close_first():
            try: os.close(fd)
            except OSError as e: errors.append(e)
        t = threading.Thread(target=close_first)
        t.start()
        time.sleep(0.003 * (1 + int(sys.argv[4])))
        os.pwrite(fd2, b, 0)
        t.join()
        os.close(fd2)
        sys.exit(1 if errors else 0)
        """
      let r = try Command.run(["python3", "-c", script, config, try local(first), try local(second), String(round)])
      #expect(r.status == 0, "round \(round): \(r.stderr)")
      #expect(try serverBytes == second, "round \(round): the write during the commit was lost")
      let shown = try [UInt8](Data(contentsOf: URL(fileURLWithPath: config)))
      #expect(shown == second, "round \(round): the mount shows other bytes than the server")
    }
  }

  /// After a save, a refused save, a rename onto the name and an unlink, `stat` and `cat`
  /// through the kernel show the server's current file at once (no stale size, no cut content).
  // SEMANTICS.md § Consistency and caching
  @Test func theKernelNeverServesAStaleConfig() throws {
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete", "--heartbeat-ttl", "1", "--list-ttl", "1"])
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    /// What `cat` prints (a plain read to the end).
    func shown() throws -> [UInt8] { Array(try Command.run(["cat", config]).stdout.utf8) }
    func size() throws -> Int { (try FileManager.default.attributesOfItem(atPath: config)[.size] as? Int) ?? -1 }
    #expect(try shown().elementsEqual(original), "cat of the config")
    #expect(try size() == original.count)
    // A save that makes the file longer: the kernel's cached size must not cut it.
    let longer = replacing("\"split_size\": 50", "\"split_size\": 50 ")
    #expect(try Command.run(["cp", try local(longer), config]).status == 0)
    #expect(try size() == longer.count)
    #expect(try shown().elementsEqual(longer))
    // A refused save: the server's version again.
    #expect(try Command.run(["cp", try local(Array("{".utf8)), config]).status != 0)
    #expect(try shown().elementsEqual(longer))
    #expect(try size() == longer.count)
    // A save through a rename (sed -i): the name now has a new inode and size at once.
    let renamed = replacing("\"split_size\": 50", "\"split_size\":   50")
    #expect(try Command.run(["sed", "-i", "s/\"split_size\": 50 /\"split_size\":   50/", config]).status == 0)
    #expect(try size() == renamed.count)
    #expect(try shown().elementsEqual(renamed))
    // Unlinked: gone at once.
    #expect(try Command.run(["rm", config]).status == 0)
    #expect(!FileManager.default.fileExists(atPath: config))
  }
}
