import DemoFleet
import Foundation
import S3
import TestSupport
import Testing

/// A seeded fleet mounted for real: the tree, attributes and bytes users see with ls, find,
/// stat, du and cmp.
@Suite(.serialized) struct ReadOnlyTreeTests {
  /// One seeded bucket and one mount for the whole suite (Swift Testing makes an instance per test).
  static let shared = Result { () throws -> (SeededFleet, MountedBucket) in
    let seeded = try SeededFleet("tree")
    return (seeded, try MountedBucket(bucket: seeded.bucket))
  }
  let seeded: SeededFleet
  let mount: MountedBucket

  init() throws {
    (seeded, mount) = try Self.shared.get()
  }

  // SEMANTICS.md § The tree
  @Test func findShowsExactlyTheDevicesSessionsAndLowestEpochSplits() throws {
    let result = try Command.run([
      "find", mount.path, "-path", "\(mount.path)/.edgemount", "-prune", "-o", "-type", "f", "-printf", "%P\n",
    ])
    #expect(result.status == 0)
    let seen = Set(result.stdout.split(separator: "\n").map(String.init))
    let expected = Set(seeded.fleet.view.map(\.path))
    #expect(seen == expected)
    // The redundant copies are folded away; the non-device prefix and top-level files are not shown.
    for key in seeded.fleet.redundantCopies { #expect(!seen.contains(key)) }
    let top = try FileManager.default.contentsOfDirectory(atPath: mount.path).sorted()
    // .edgemount/ and .raw/ are reachable by name but not listed: rsync and find see the fleet only.
    #expect(top == seeded.fleet.devices.sorted())
    #expect(FileManager.default.fileExists(atPath: mount.file(".edgemount/status")))
  }

  // SEMANTICS.md § Attributes
  @Test func statShowsListedSizesEpochMtimesAndModes() throws {
    let result = try Command.run([
      "find", mount.path, "-path", "\(mount.path)/.edgemount", "-prune", "-o", "-type", "f", "-printf", "%P %s %T@ %m\n",
    ])
    var stats: [String: (UInt64, Int64, String)] = [:]
    for line in result.stdout.split(separator: "\n") {
      let f = line.split(separator: " ")
      stats[String(f[0])] = (UInt64(f[1])!, Int64(Double(f[2])!), String(f[3]))
    }
    for file in seeded.fleet.view {
      let s = try #require(stats[file.path], "\(file.path) missing")
      #expect(s.0 == file.size, "\(file.path) size")
      if LogName.isLog(file.path) {
        #expect(s.1 == file.mtime, "\(file.path) mtime")
        #expect(s.2 == "444")
      }
    }
    // A config can hold the device's secrets: the owner's only (SEMANTICS.md, who can read a config).
    #expect(stats.first { $0.key.hasSuffix("/config-01.09.json") }?.value.2 == "600")
    #expect(stats.first { $0.key.hasSuffix("/device.json") }?.value.2 == "444")
  }

  @Test func duTotalsTheBytesOfTheView() throws {
    let device = seeded.fleet.devices.last!
    let result = try Command.run(["du", "-sb", mount.file(device)])
    let total = seeded.fleet.view.filter { $0.path.hasPrefix(device + "/") }.reduce(0) { $0 + $1.size }
    #expect(result.stdout.split(separator: "\t").first.map(String.init) == String(total))
  }

  @Test func everyLogReadsByteIdenticalToTheObject() throws {
    let bodies = seeded.bodies
    for file in seeded.fleet.view {
      let data = try #require(FileManager.default.contents(atPath: mount.file(file.path)))
      #expect([UInt8](data) == bodies[file.key], "\(file.path)")
    }
    // And with cmp, against a direct GET written to disk.
    let sample = "2F6913DB/00001089/00000001-63BEF5CD.MF4"
    let local = FileManager.default.temporaryDirectory.appendingPathComponent("direct-\(UUID()).MF4")
    try Data(try seeded.client.getObject(key: sample)).write(to: local)
    defer { try? FileManager.default.removeItem(at: local) }
    #expect(try Command.run(["cmp", mount.file(sample), local.path]).status == 0)
  }

  // SEMANTICS.md § Reading
  @Test func readsAtOddOffsetsAndSizesReturnExactlyTheRightBytes() throws {
    let file = seeded.fleet.view.filter { LogName.isLog($0.path) }.max { $0.size < $1.size }!
    let body = seeded.bodies[file.key]!
    let handle = try #require(FileHandle(forReadingAtPath: mount.file(file.path)))
    defer { try? handle.close() }
    var rng = SplitMix64(seed: 42)
    var cases: [(UInt64, Int)] = [
      (0, 1), (1, 4095), (4095, 2), (131_071, 3), (UInt64(body.count - 1), 10), (UInt64(body.count), 5),
    ]
    for _ in 0..<60 {
      cases.append((UInt64.random(in: 0..<UInt64(body.count), using: &rng), Int.random(in: 1...70_000, using: &rng)))
    }
    for (offset, count) in cases {
      try handle.seek(toOffset: offset)
      let got = [UInt8](try handle.read(upToCount: count) ?? Data())
      let lower = min(Int(offset), body.count)
      let expected = Array(body[lower..<min(body.count, lower + count)])
      #expect(got == expected, "offset \(offset) count \(count)")
    }
  }

  @Test func realSampleLogsKeepTheirMDFHeaders() throws {
    let mf4 = try #require(FileManager.default.contents(atPath: mount.file("2F6913DB/00001089/00000002-63BEFDF9.MF4")))
    #expect(mf4.prefix(8) == Data("UnFinMF ".utf8))
    let mfc = try #require(FileManager.default.contents(atPath: mount.file("5BC57FEC/00000001/00000006-643E5292.MFC")))
    #expect(mfc.prefix(8) == Data("Generic ".utf8))
  }

  // SEMANTICS.md § Duplicate uploads
  @Test func duplicatesFileListsFoldedAndConflictingCopies() throws {
    _ = try Command.run(["find", mount.path])
    let text = try String(contentsOfFile: mount.file(".edgemount/duplicates"), encoding: .utf8)
    for key in seeded.fleet.redundantCopies { #expect(text.contains("folded\t") && text.contains("\t\(key)\t"), "\(key)") }
    #expect(text.contains("conflict\t"))
    // Both differing copies are visible in the tree.
    let conflictPaths = text.split(separator: "\n").filter { $0.hasPrefix("conflict\t") }.map { $0.split(separator: "\t")[2] }
    for path in conflictPaths { #expect(FileManager.default.fileExists(atPath: mount.file(String(path)))) }
  }

  @Test func inodeNumbersAreStableForAPath() throws {
    let path = mount.file(seeded.fleet.view[0].path)
    let first = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
    _ = try Command.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"])
    let second = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
    #expect(first != nil && first == second)
  }

  @Test func everyChangeFailsAndTheBucketIsUntouched() throws {
    let before = try seeded.client.listAll(prefix: "", delimiter: nil).objects
    let device = seeded.fleet.devices.last!
    let log = seeded.fleet.view.first { $0.path.hasPrefix(device + "/0") }!.path
    let attempts = [
      "touch \(mount.file((log as NSString).deletingLastPathComponent))/new.txt", "echo x > \(mount.file(log))",
      "echo x >> \(mount.file(device))/device.json",
      "rm \(mount.file(log))", "rmdir \(mount.file(device))", "rm -r \(mount.file((log as NSString).deletingLastPathComponent))",
      "mkdir \(mount.file("NEWDEV01"))",
      "mv \(mount.file(log)) \(mount.file(log)).bak", "truncate -s 0 \(mount.file(log))", "chmod 777 \(mount.file(log))",
      "ln -s x \(mount.file(device))/link",
    ]
    for script in attempts {
      let r = try Command.shell(script)
      #expect(r.status != 0, "\(script) should fail")
      #expect(
        r.stderr.contains("Permission denied") || r.stderr.contains("Operation not permitted") || r.stderr.contains("Read-only")
          || r.stderr.contains("Directory not empty"),
        "\(script): \(r.stderr)")
    }
    let after = try seeded.client.listAll(prefix: "", delimiter: nil).objects
    #expect(after == before)
  }
}

enum LogName {
  static func isLog(_ path: String) -> Bool { path.hasSuffix(".MF4") || path.hasSuffix(".MFC") }
}
