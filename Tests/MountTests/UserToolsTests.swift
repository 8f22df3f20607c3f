import DemoFleet
import Digest
import Foundation
import S3
import TestSupport
import Testing

/// The everyday programs of the field on a mounted fleet: copy, archive, checksum, mmap.
@Suite(.serialized) struct UserToolsTests {
  static let shared = Result { () throws -> (SeededFleet, MountedBucket) in
    var options = DemoFleet.Options()
    options.generatedDevices = 2
    let seeded = try SeededFleet("tools", options: options)
    return (seeded, try MountedBucket(bucket: seeded.bucket))
  }
  let seeded: SeededFleet
  let mount: MountedBucket

  init() throws { (seeded, mount) = try Self.shared.get() }

  func scratch() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tools-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  @Test func cpPreservesBytesAndTimes() throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let device = "2F6913DB"
    #expect(try Command.run(["cp", "-a", mount.file(device), dir]).status == 0)
    #expect(try Command.run(["diff", "-r", mount.file(device), dir + "/" + device]).status == 0)
    let times = try Command.shell("cd \(dir)/\(device)/00001089 && stat -c '%n %Y' *.MF4").stdout
    #expect(times.contains("00000001-63BEF5CD.MF4 \(0x63BE_F5CD)"))
  }

  @Test func tarArchivesAndSha256sumMatchesTheObjects() throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let tar = try Command.run(["tar", "-C", mount.path, "-cf", dir + "/fleet.tar", "--exclude=.edgemount", "."])
    #expect(tar.status == 0, "\(tar.stderr)")
    let listed = try Command.run(["tar", "-tf", dir + "/fleet.tar"]).stdout
    for file in seeded.fleet.view { #expect(listed.contains("./" + file.path), "\(file.path)") }
    let sums = try Command.shell("cd \(mount.path) && sha256sum 5BC57FEC/00000001/*.MFC").stdout
    for file in seeded.fleet.view where file.path.hasPrefix("5BC57FEC/") {
      let expected = Digest.hex(Digest.sha256(seeded.bodies[file.key]!))
      #expect(sums.contains("\(expected)  \(file.path)"))
    }
  }

  @Test func pythonReadsThroughMmapAndSeeks() throws {
    let path = mount.file("2F6913DB/00001089/00000002-63BEFDF9.MF4")
    let script = """
      import mmap, hashlib, sys
      with open(sys.argv[1], 'rb') as f:
          m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
          print(m[:8].decode(), len(m), hashlib.sha256(m[:]).hexdigest())
          f.seek(100000); print(f.read(16).hex())
      """
    let r = try Command.run(["python3", "-c", script, path])
    let body = seeded.bodies["2F6913DB/00001089/00000002-63BEFDF9.MF4"]!
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("UnFinMF  \(body.count) \(Digest.hex(Digest.sha256(body)))"), "\(r.stdout)")
    #expect(r.stdout.contains(Digest.hex(Array(body[100_000..<100_016]))))
  }

  @Test func headTailAndGrepWorkOnLogs() throws {
    let path = mount.file("5BC57FEC/00000001/00000007-643E54EA.MFC")
    #expect(try Command.run(["head", "-c", "8", path]).stdout == "Generic ")
    let body = seeded.bodies["5BC57FEC/00000001/00000007-643E54EA.MFC"]!
    let tail = try Command.shell("tail -c 64 \(path) | od -An -tx1 | tr -d ' \\n'").stdout
    #expect(tail == Digest.hex(Array(body.suffix(64))))
    let count = try Command.shell("grep -rl --include='*.MF4' UnFinMF \(mount.path) | wc -l").stdout
    #expect(
      Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) == seeded.fleet.view.filter { $0.path.hasSuffix(".MF4") }.count)
  }
}
