import DemoFleet
import Foundation
import S3
import TestSupport
import Testing

/// `.by-date/` through a real kernel mount on SeaweedFS, with the programs users run: ls,
/// rsync, du, find, getfattr, touch, and asammdf reading a log by its by-date path.
@Suite(.serialized) struct ByDateMountTests {
  /// Splits of one session from 23:30 UTC on Nov 30, ten minutes each, three on each side of
  /// midnight, plus a real MFC log recorded on 2023-04-18 (dated from its decompressed header,
  /// so not on Dec 1). Returns the keys on Dec 1 (by first record).
  func seed(_ s3: S3Client) throws -> (dec1: [String], all: [String: [UInt8]]) {
    let sessionStart: Int64 = 1_796_083_200 - 1800
    var all: [String: [UInt8]] = [:]
    var dec1: [String] = []
    for i in 0..<6 {
      let offset = Double(i * 600) + 14.1
      let key = "A1B2C3D4/00000001/" + SampleLog.name(split: i + 1, uploaded: sessionStart + Int64(offset) + 660)
      all[key] = try SampleLog.bytes(sessionStart: sessionStart, offset: offset)
      if i >= 3 { dec1.append(key) }
    }
    all["B2C3D4E5/00000001/00000005-643E503A.MFC"] = try Fixtures.bytes("bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC")
    for (key, bytes) in all { try s3.putObject(key: key, body: bytes) }
    return (dec1.sorted(), all)
  }

  func temporaryDirectory(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID())").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  // SEMANTICS.md § `.by-date/`: the logs by recording day
  @Test func rsyncOfADayCopiesExactlyThatDayAndARerunCostsNothing() throws {
    let s3 = try TestS3.freshBucket("bydate")
    let (dec1, all) = try seed(s3)
    let cache = try temporaryDirectory("bydate-cache")
    let destination = try temporaryDirectory("bydate-dst")
    defer {
      try? FileManager.default.removeItem(atPath: cache)
      try? FileManager.default.removeItem(atPath: destination)
    }
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache])
    defer { mount.unmount() }
    var r = try Command.run(["rsync", "-a", mount.file(".by-date/2026-12-01/"), destination + "/"])
    #expect(r.status == 0, "\(r.stderr)")
    let copied = try Command.run(["find", destination, "-type", "f"]).stdout.split(separator: "\n")
      .map { String($0.dropFirst(destination.count + 1)) }.sorted()
    #expect(copied == dec1)
    for key in dec1 {
      #expect(FileManager.default.contents(atPath: destination + "/" + key) == Data(all[key]!), "\(key) differs")
    }
    // A re-run: nothing transferred, no request.
    let before = try mount.counters()
    r = try Command.run(["rsync", "-a", "--stats", mount.file(".by-date/2026-12-01/"), destination + "/"])
    #expect(r.stdout.contains("Number of regular files transferred: 0"), "\(r.stdout)")
    let after = try mount.counters()
    for counter in ["requests_get", "requests_head", "requests_list"] {
      #expect(after[counter] == before[counter], "\(counter): \(before[counter] ?? -1) -> \(after[counter] ?? -1)")
    }
  }

  // SEMANTICS.md § `.by-date/`: the logs by recording day
  @Test func theViewIsTheSameFilesForDuFindAndReaders() throws {
    let s3 = try TestS3.freshBucket("bydatetools")
    let (dec1, all) = try seed(s3)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let split4 = dec1[0]
    let byDate = mount.file(".by-date/2026-12-01/" + split4)
    // find -samefile from the device tree finds the one by-date name.
    var r = try Command.run(["find", mount.file(".by-date"), "-samefile", mount.file(split4)])
    #expect(r.stdout == byDate + "\n", "\(r.stdout) \(r.stderr)")
    // du over both trees counts each log once.
    let devices = [mount.file("A1B2C3D4"), mount.file("B2C3D4E5")]
    let tree = try Command.run(["du", "-sc", "--block-size=1"] + devices).stdout
    let both = try Command.run(["du", "-sc", "--block-size=1"] + devices + [mount.file(".by-date/2026-12-01")]).stdout
    func total(_ output: String) -> Substring? { output.split(separator: "\n").last?.split(separator: "\t").first }
    #expect(total(both) == total(tree), "\(tree) \(both)")
    // find of the whole mount never walks into .by-date: each log once.
    r = try Command.run(["find", mount.path, "-type", "f"])
    #expect(r.stdout.split(separator: "\n").count == all.count, "\(r.stdout)")
    // The time attributes, and asammdf reading the log by its by-date path.
    r = try Command.run(["getfattr", "--only-values", "-n", "user.canedge.start_time", byDate])
    #expect(r.stdout == "2026-12-01T00:00:14.100Z", "\(r.stdout) \(r.stderr)")
    let script =
      "import sys, warnings; warnings.filterwarnings('ignore'); import asammdf; m = asammdf.MDF(sys.argv[1]); print(m.header.abs_time)"
    r = try Command.run(["python3", "-c", script, byDate])
    #expect(r.stdout == "\(UInt64(1_796_083_200 - 1800) * 1_000_000_000)\n", "\(r.stdout) \(r.stderr)")
    // Changes are refused with EROFS.
    r = try Command.run(["touch", mount.file(".by-date/2026-12-01/A1B2C3D4/00000001/new.txt")])
    #expect(r.status != 0 && r.stderr.contains("Read-only file system"), "\(r.stderr)")
    r = try Command.run(["rm", byDate])
    #expect(r.status != 0 && r.stderr.contains("Read-only file system"), "\(r.stderr)")
    #expect(FileManager.default.fileExists(atPath: mount.file(split4)))
  }

  /// What shells and copy tools do to a folder, tried in the view: each fails with EROFS, and
  /// none of them sends a PUT or a DELETE, or changes the device tree.
  // SEMANTICS.md § `.by-date/`: the logs by recording day
  @Test func shellWritesIntoTheViewAreRefusedWithoutARequest() throws {
    let s3 = try TestS3.freshBucket("bydateshell")
    let (dec1, all) = try seed(s3)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let day = mount.file(".by-date/2026-12-01")
    let session = day + "/A1B2C3D4/00000001"
    let log = session + "/" + dec1[0].split(separator: "/")[2]
    let local = FileManager.default.temporaryDirectory.appendingPathComponent("bydate-\(UUID()).txt").path
    try Data("x\n".utf8).write(to: URL(fileURLWithPath: local))
    defer { try? FileManager.default.removeItem(atPath: local) }
    _ = try FileManager.default.contentsOfDirectory(atPath: session)
    let before = try mount.counters()
    for (idiom, command) in [
      ("cat >", "echo x | cat > \(session)/new.txt"),
      ("heredoc", "cat > \(session)/notes.txt <<'EOF'\nhello\nEOF"),
      ("mv from another filesystem", "mv \(local) \(session)/moved.txt"),
      ("cp under another name", "cp \(log) \(session)/copy.MF4"),
      ("mv within the view", "mv \(log) \(session)/renamed.MF4"),
      ("mv into the device tree", "mv \(log) \(mount.file("A1B2C3D4"))/"),
      ("rm -r", "rm -r \(day)/A1B2C3D4"),
      ("rm -rf", "rm -rf \(day)"),
      ("mkdir", "mkdir \(session)/sub"),
    ] {
      let r = try Command.run(["bash", "-c", command])
      #expect(r.status != 0 && r.stderr.contains("Read-only file system"), "\(idiom): \(r.status) \(r.stderr)")
    }
    let after = try mount.counters()
    #expect(after["requests_put"] == before["requests_put"] && after["requests_delete"] == before["requests_delete"])
    #expect(FileManager.default.fileExists(atPath: local), "mv kept its source")
    #expect(try s3.listAll(prefix: "", delimiter: nil).objects.count == all.count)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: session).sorted()
        == dec1.filter { $0.hasPrefix("A1B2C3D4") }.map { String($0.split(separator: "/")[2]) })
  }

  @Test func aRemountWithTheSameCacheFolderReadsNoHeader() throws {
    let s3 = try TestS3.freshBucket("bydatecache")
    let (dec1, _) = try seed(s3)
    let cache = try temporaryDirectory("bydate-cache2")
    defer { try? FileManager.default.removeItem(atPath: cache) }
    do {
      let mount = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache])
      defer { mount.unmount() }
      #expect(try FileManager.default.contentsOfDirectory(atPath: mount.file(".by-date/2026-12-01/A1B2C3D4/00000001")).count == 3)
      #expect(try mount.counters()["headers_read"]! > 0)
    }
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache])
    defer { mount.unmount() }
    let names = try FileManager.default.contentsOfDirectory(atPath: mount.file(".by-date/2026-12-01/A1B2C3D4/00000001"))
    #expect(names.sorted() == dec1.filter { $0.hasPrefix("A1B2C3D4") }.map { String($0.split(separator: "/")[2]) })
    _ = try Command.run(["ls", "-lR", mount.file(".by-date/2026-11-30")])
    let counters = try mount.counters()
    #expect(counters["requests_get"] == 0, "header GETs after a remount: \(counters["requests_get"] ?? -1)")
    #expect(counters["headers_read"] == 0 && counters["headers_loaded_from_cache_dir"]! > 0)
  }

  /// Logs of every MF4 layout (`Tests/Support/mf4_layouts.py`: data groups at the tail, chains
  /// alternating head and tail, finalized, sorted, DL, DZ of both kinds, HL), uploaded the day
  /// after they were recorded: each is under its recording day, dated from its header.
  @Test func logsOfEveryLayoutAreUnderTheirRecordingDay() throws {
    let s3 = try TestS3.freshBucket("bydatelayouts")
    let layouts = try temporaryDirectory("layouts")
    defer { try? FileManager.default.removeItem(atPath: layouts) }
    let made = try Command.run([
      "python3", Fixtures.directory.path + "/../Support/mf4_layouts.py", Fixtures.url(SampleLog.fixture).path, layouts,
    ])
    #expect(made.status == 0, "\(made.stderr)")
    let files = try FileManager.default.contentsOfDirectory(atPath: layouts).filter { $0.hasSuffix(".mf4") }.sorted()
    #expect(files.count == 9)
    // Uploaded 2023-01-12 00:30 UTC: the upload names say the next day.
    var names: [String: String] = [:]
    for (i, file) in files.enumerated() {
      let name = SampleLog.name(split: i + 1, uploaded: 1_673_483_400 + Int64(i))
      names[name] = file
      try s3.putObject(
        key: "2F6913DB/00001089/" + name, body: [UInt8](try Data(contentsOf: URL(fileURLWithPath: layouts + "/" + file))))
    }
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let day = try FileManager.default.contentsOfDirectory(atPath: mount.file(".by-date/2023-01-11/2F6913DB/00001089"))
    #expect(day.sorted() == names.keys.sorted())
    for (name, file) in names {
      let path = mount.file("2F6913DB/00001089/" + name)
      #expect(
        try xattr(path, "user.canedge.time_source") == "header",
        "\(file): \((try? xattr(path, "user.canedge.header_error")) ?? "")")
      #expect(try xattr(path, "user.canedge.start_time") == "2023-01-11T17:42:09.103Z", "\(file)")
    }
    #expect(try mount.counters()["headers_unreadable"] == 0)
  }
}
