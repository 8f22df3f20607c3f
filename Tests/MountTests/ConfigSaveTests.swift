import Foundation
import S3
import TestSupport
import Testing

/// Configuration over-the-air through real editors and tools: only a complete, valid file
/// reaches S3, byte for byte; everything else is refused and leaves the object as it was.
@Suite(.serialized) struct ConfigSaveTests {
  static let device = "A1B2C3D4"
  static let configName = "config-01.09.json"
  static let key = "\(device)/\(configName)"

  let s3: S3Client
  let mount: MountedBucket
  let original: [UInt8]

  init() throws {
    s3 = try TestS3.freshBucket("cota")
    original = try seedCANedge2Device(s3, id: Self.device)
    mount = try MountedBucket(bucket: s3.bucket)
  }

  var config: String { mount.file("\(Self.device)/\(Self.configName)") }
  var serverBytes: [UInt8] { get throws { try s3.getObject(key: Self.key) } }
  var errorsText: String { (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? "" }

  func replacing(_ old: String, _ new: String) -> [UInt8] {
    Array(String(decoding: original, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
  }

  /// vim ends a file with a newline ('fixendofline').
  func withFinalNewline(_ bytes: [UInt8]) -> [UInt8] { bytes.last == 10 ? bytes : bytes + [10] }

  func expectUnchanged(_ what: String) throws {
    #expect(try serverBytes == original, "\(what) changed the server object")
  }

  @Test func sedInPlaceSaveReachesS3ByteForByte() throws {
    defer { mount.unmount() }
    let r = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 60/", config])
    #expect(r.status == 0, "\(r.stderr)")
    let expected = replacing("\"split_size\": 50", "\"split_size\": 60")
    #expect(try serverBytes == expected)
    #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: config))) == expected)
    // No temp file was uploaded, none is left.
    #expect(try s3.listAll(prefix: "\(Self.device)/", delimiter: "/").objects.count == 3)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: mount.file(Self.device)).sorted() == [
        "config-01.09.json", "device.json", "schema-01.09.json",
      ])
  }

  @Test func vimWithItsDefaultWriteBackupSaves() throws {
    defer { mount.unmount() }
    let r = try Command.run([
      "vim", "-u", "NONE", "-N", "-e", "-s", "-c", "%s/\"split_size\": 50/\"split_size\": 70/", "-c", "wq", config,
    ])
    #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
    #expect(try serverBytes == withFinalNewline(replacing("\"split_size\": 50", "\"split_size\": 70")))
    // The backup vim made (and removed) never reached S3.
    #expect(
      try s3.listAll(prefix: "\(Self.device)/", delimiter: "/").objects.map(\.key).sorted() == [
        "A1B2C3D4/config-01.09.json", "A1B2C3D4/device.json", "A1B2C3D4/schema-01.09.json",
      ])
  }

  @Test func vimWithBackupcopyYesWritesInPlace() throws {
    defer { mount.unmount() }
    let r = try Command.run([
      "vim", "-u", "NONE", "-N", "-e", "-s", "-c", "set backupcopy=yes", "-c", "%s/\"split_size\": 50/\"split_size\": 71/", "-c",
      "wq", config,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try serverBytes == withFinalNewline(replacing("\"split_size\": 50", "\"split_size\": 71")))
  }

  @Test func pythonTempFileAndOsReplaceSaves() throws {
    defer { mount.unmount() }
    let script = """
      import os, sys, tempfile
      path = sys.argv[1]
      text = open(path).read().replace('"split_size": 50', '"split_size": 80')
      fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
      with os.fdopen(fd, 'w') as f:
          f.write(text)
          f.flush()
          os.fsync(f.fileno())
      os.replace(tmp, path)
      """
    let r = try Command.run(["python3", "-c", script, config])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try serverBytes == replacing("\"split_size\": 50", "\"split_size\": 80"))
  }

  @Test func cpCatAndTeeOverwriteInPlace() throws {
    defer { mount.unmount() }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cota-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    for (i, tool) in ["cp", "cat", "tee", "nano-style"].enumerated() {
      let body = replacing("\"split_size\": 50", "\"split_size\": \(90 + i)")
      let local = dir.appendingPathComponent("new\(i).json")
      try Data(body).write(to: local)
      let r: Command.Result
      switch tool {
      case "cp": r = try Command.run(["cp", local.path, config])
      case "cat": r = try Command.shell("cat '\(local.path)' > '\(config)'")
      case "tee": r = try Command.shell("tee '\(config)' < '\(local.path)' > /dev/null")
      default:
        // What nano does: open with O_TRUNC, write in pieces, fsync, close.
        r = try Command.run([
          "python3", "-c",
          "import os,sys; d=open(sys.argv[1],'rb').read(); fd=os.open(sys.argv[2], os.O_WRONLY|os.O_TRUNC); [os.write(fd, d[i:i+1000]) for i in range(0, len(d), 1000)]; os.fsync(fd); os.close(fd)",
          local.path, config,
        ])
      }
      #expect(r.status == 0, "\(tool): \(r.stderr)")
      #expect(try serverBytes == body, "\(tool)")
    }
  }

  @Test func invalidSavesAreRefusedAndTheObjectStaysAsItWas() throws {
    defer { mount.unmount() }
    let cases: [(String, [UInt8], String)] = [
      ("broken JSON", Array("{\n  \"general\": {\n    \"debug\": ,\n}".utf8), "line 3"),
      ("out of range", replacing("\"split_size\": 50", "\"split_size\": 999"), "$.log.file.split_size"),
      ("wrong type", replacing("\"split_size\": 50", "\"split_size\": \"50\""), "$.log.file.split_size"),
      ("extra property", replacing("\"split_size\": 50", "\"split_size\": 50, \"colour\": 1"), "$.log.file.colour"),
      ("missing required", replacing("\"split_size\": 50,", ""), "$.log.file.split_size"),
      ("enum", replacing("\"cyclic\": 1", "\"cyclic\": 7"), "$.log.file.cyclic"),
      (
        "cross-field rule",
        replacing("\"split_time_period\": 0", "\"split_time_period\": 60").replacing(
          "\"split_time_offset\": 0", "\"split_time_offset\": 120"), "split_time_offset"
      ),
      ("truncated file", Array(original.prefix(original.count / 2)), "rejected: line "),
    ]
    for (what, body, reason) in cases {
      let local = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).json")
      try Data(body).write(to: local)
      defer { try? FileManager.default.removeItem(at: local) }
      let r = try Command.run(["cp", local.path, config])
      #expect(r.status != 0, "\(what) was accepted")
      #expect(r.stderr.contains("Invalid argument"), "\(what): \(r.stderr)")
      try expectUnchanged(what)
      #expect(errorsText.contains(reason), "\(what): errors file lacks \(reason): \(errorsText)")
      // After a rejection the file shows the server's version again.
      #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: config))) == original, "\(what)")
    }
    // A sed -i with a bad result: the rename fails, sed says so, nothing changes.
    let sed = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 0/", config])
    #expect(sed.status != 0)
    try expectUnchanged("sed -i")
  }

  @Test func aVersionTheDeviceDoesNotKnowIsRefused() throws {
    defer { mount.unmount() }
    let r = try Command.run(["cp", config, mount.file("\(Self.device)/config-01.07.json")])
    #expect(r.status != 0)
    #expect(errorsText.contains("version 01.07 is not one this device knows"))
    #expect(throws: S3Error.self) { try s3.headObject(key: "\(Self.device)/config-01.07.json") }
  }

  // SEMANTICS.md § Changes
  @Test func aConcurrentServerChangeIsRefusedNotOverwritten() throws {
    defer { mount.unmount() }
    let mine = try Data(contentsOf: URL(fileURLWithPath: config))  // the editor reads the file
    let theirs = replacing("\"split_size\": 50", "\"split_size\": 55")
    try s3.putObject(key: Self.key, body: theirs)  // someone else saves meanwhile
    let edited = FileManager.default.temporaryDirectory.appendingPathComponent("mine-\(UUID()).json")
    try Data([UInt8](mine).replacing("\"split_size\": 50", "\"split_size\": 65")).write(to: edited)
    defer { try? FileManager.default.removeItem(at: edited) }
    let r = try Command.run(["cp", edited.path, config])  // the editor writes its version back
    #expect(r.status != 0)
    #expect(r.stderr.contains("busy"), "\(r.stderr)")
    #expect(try serverBytes == theirs)
    #expect(errorsText.contains("conflict"))
  }

  @Test func scratchFilesWorkLocallyAndNeverReachS3() throws {
    defer { mount.unmount() }
    let notes = mount.file("\(Self.device)/.notes.swp")
    try Data("draft".utf8).write(to: URL(fileURLWithPath: notes))
    #expect(try String(contentsOfFile: notes, encoding: .utf8) == "draft")
    #expect(try Command.run(["mv", notes, mount.file("\(Self.device)/notes~")]).status == 0)
    #expect(FileManager.default.fileExists(atPath: mount.file("\(Self.device)/notes~")))
    #expect(try s3.listAll(prefix: "\(Self.device)/", delimiter: "/").objects.count == 3)
    #expect(try Command.run(["rm", mount.file("\(Self.device)/notes~")]).status == 0)
    #expect(!FileManager.default.fileExists(atPath: mount.file("\(Self.device)/notes~")))
    // Writing the device's own files is refused.
    #expect(try Command.shell("echo x > \(mount.file("\(Self.device)/device.json"))").status != 0)
  }

  @Test func unlinkNeedsAllowDeleteAndRenameAwayKeepsTheServerCopy() throws {
    defer { mount.unmount() }
    #expect(try Command.run(["mv", config, config + ".bak"]).status == 0)
    #expect(try serverBytes == original)
    #expect(try Command.run(["mv", config + ".bak", config]).status == 0)
    #expect(try serverBytes == original)
    let refused = try Command.run(["rm", config])
    #expect(refused.status != 0 && refused.stderr.contains("Operation not permitted"), "\(refused.stderr)")
    #expect(try serverBytes == original)
    #expect(errorsText.contains("deleting server files needs a mount with --allow-delete"))
    mount.unmount()
    let deleting = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { deleting.unmount() }
    #expect(try Command.run(["rm", deleting.file("\(Self.device)/\(Self.configName)")]).status == 0)
    Thread.sleep(forTimeInterval: 1.5)  // the DELETE waits a moment for a save that may replace it (mv)
    #expect(throws: S3Error.self) { try s3.headObject(key: Self.key) }
  }
}

extension Array where Element == UInt8 {
  func replacing(_ old: String, _ new: String) -> [UInt8] {
    Array(String(decoding: self, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
  }
}
