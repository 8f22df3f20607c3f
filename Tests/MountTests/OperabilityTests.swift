import DemoFleet
import Foundation
import S3
import TestSupport
import Testing

/// What makes the mount native to a Linux box: mount(8), fstab, systemd, signals, dedupe,
/// the fleet overview and the raw bucket view.
@Suite(.serialized) struct OperabilityTests {
  static let helper = "/sbin/mount.fuse.edgemount"

  /// Puts the repository's mount helper where mount(8) looks, pointing at the built binary,
  /// and restores whatever was there.
  func withHelper(_ body: ([String: String]) throws -> Void) throws {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
      .appendingPathComponent("mount-helpers/mount.fuse.edgemount").path
    let saved = FileManager.default.contents(atPath: Self.helper)
    try? FileManager.default.removeItem(atPath: Self.helper)
    try FileManager.default.copyItem(atPath: source, toPath: Self.helper)
    defer {
      try? FileManager.default.removeItem(atPath: Self.helper)
      if let saved {
        FileManager.default.createFile(atPath: Self.helper, contents: saved, attributes: [.posixPermissions: 0o755])
      }
    }
    var env = ProcessInfo.processInfo.environment
    env["EDGEMOUNT_BIN"] = MountedBucket.edgemount
    try body(env)
  }

  @Test func mountDashTAndUmountWorkWithOptionsThroughDashO() throws {
    let s3 = try TestS3.freshBucket("mountt")
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [1, 2, 3])
    let dir = try freshDirectory("mnt-op")
    try withHelper { env in
      let r = try Command.run(
        [
          "mount", "-t", "fuse.edgemount", s3.bucket, dir, "-o",
          "endpoint=\(try TestS3.endpointURL),ro,nodev,nosuid,list_ttl=5,umask=0027",
        ],
        environment: env)
      #expect(r.status == 0, "\(r.stderr)")
      let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
      #expect(mounts.contains("\(dir) fuse.edgemount ro,"), "\(mounts)")
      let line = mounts.split(separator: "\n").first { $0.contains(dir) } ?? ""
      #expect(!line.contains("allow_other"), "allow_other only on request: \(line)")
      #expect(try Command.run(["stat", "-c", "%a", dir + "/A1B2C3D4/00000001/00000001-5E0BE100.MF4"]).stdout.hasPrefix("440"))
      #expect(try Command.run(["umount", dir]).status == 0)
      #expect(!(try String(contentsOfFile: "/proc/mounts", encoding: .utf8)).contains(dir))
    }
  }

  @Test func anFstabLineWithNetdevMounts() throws {
    let s3 = try TestS3.freshBucket("fstab")
    try s3.putObject(key: "A1B2C3D4/device.json", body: Array("{}".utf8))
    let dir = try freshDirectory("mnt-op")
    let fstab = FileManager.default.temporaryDirectory.appendingPathComponent("fstab-\(UUID())").path
    try "\(s3.bucket)  \(dir)  fuse.edgemount  _netdev,endpoint=\(try TestS3.endpointURL),allow_other,heartbeat_ttl=3  0  0\n"
      .write(toFile: fstab, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: fstab) }
    try withHelper { env in
      let r = try Command.run(["mount", "--fstab", fstab, dir], environment: env)
      #expect(r.status == 0, "\(r.stderr)")
      defer { _ = try? Command.run(["umount", dir]) }
      #expect(try FileManager.default.contentsOfDirectory(atPath: dir).contains("A1B2C3D4"))
      let line =
        try String(contentsOfFile: "/proc/mounts", encoding: .utf8).split(separator: "\n").first { $0.contains(dir) } ?? ""
      #expect(line.contains("fuse.edgemount rw,") && line.contains("allow_other"), "\(line)")
    }
  }

  @Test func systemdIsToldWhenTheMountIsReadyAndSIGUSR1LogsTheCounters() throws {
    let s3 = try TestS3.freshBucket("notify")
    let dir = try freshDirectory("mnt-op")
    let socket = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(6)).sock").path
    let listener = try BackgroundProcess([
      "/usr/bin/python3", "-c",
      "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print(s.recv(4096).decode(), flush=True)",
      socket,
    ])
    defer { listener.stop() }
    for _ in 0..<50 where !FileManager.default.fileExists(atPath: socket) { Thread.sleep(forTimeInterval: 0.05) }
    var env = ProcessInfo.processInfo.environment
    env["NOTIFY_SOCKET"] = socket
    let mount = try BackgroundProcess(
      [MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL, "--foreground"], environment: env)
    defer {
      mount.stop()
      _ = try? Command.run(["umount", "-l", dir])
    }
    for _ in 0..<100 where !listener.output.contains("READY=1") { Thread.sleep(forTimeInterval: 0.05) }
    #expect(listener.output.contains("READY=1"), "\(listener.output)")
    #expect(try String(contentsOfFile: "/proc/mounts", encoding: .utf8).contains(dir), "READY came before the mount")
    kill(mount.pid, SIGUSR1)
    for _ in 0..<50 where !mount.output.contains("requests_list") { Thread.sleep(forTimeInterval: 0.05) }
    #expect(mount.output.contains("requests_list:"), "\(mount.output)")
    #expect(!mount.output.contains(try TestS3.credentials.secretAccessKey))
  }

  @Test func rawShowsTheBucketAsStoredButIsNotListedAtTheRoot() throws {
    let seeded = try SeededFleet("raw")
    let mount = try MountedBucket(bucket: seeded.bucket)
    defer { mount.unmount() }
    #expect(!(try FileManager.default.contentsOfDirectory(atPath: mount.path)).contains(".raw"))
    let listed = try Command.run(["find", mount.file(".raw"), "-type", "f", "-printf", "%P\n"]).stdout.split(separator: "\n").map(
      String.init)
    #expect(Set(listed) == Set(seeded.fleet.objects.map(\.key)))
    let copy = try #require(seeded.fleet.redundantCopies.first)
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(".raw/" + copy))) == Data(seeded.bodies[copy]!))
    #expect(try Command.run(["rm", mount.file(".raw/" + copy)]).status != 0)
  }

  @Test func dedupeRemovesExactlyTheRedundantCopies() throws {
    let seeded = try SeededFleet("dedupe")
    let before = Set(try seeded.client.listAll(prefix: "", delimiter: nil).objects.map(\.key))
    let dry = try Command.run([
      MountedBucket.edgemount, "dedupe", seeded.bucket, "--dry-run", "--endpoint", try TestS3.endpointURL,
    ])
    #expect(dry.status == 0, "\(dry.stderr)")
    let wouldDelete = Set(
      dry.stdout.split(separator: "\n").filter { $0.hasPrefix("would delete ") }.map { String($0.split(separator: " ")[2]) })
    #expect(wouldDelete == Set(seeded.fleet.redundantCopies))
    #expect(Set(try seeded.client.listAll(prefix: "", delimiter: nil).objects.map(\.key)) == before, "dry run changed the bucket")
    #expect(dry.stdout.contains("dry run: \(seeded.fleet.redundantCopies.count) duplicate copies"))

    let real = try Command.run([MountedBucket.edgemount, "dedupe", seeded.bucket, "--endpoint", try TestS3.endpointURL])
    #expect(real.status == 0, "\(real.stderr)")
    let after = Set(try seeded.client.listAll(prefix: "", delimiter: nil).objects.map(\.key))
    #expect(after == before.subtracting(seeded.fleet.redundantCopies))
    for file in seeded.fleet.view { #expect(after.contains(file.key), "\(file.key) lost") }
    let freed = seeded.fleet.redundantCopies.reduce(0) { $0 + seeded.bodies[$1]!.count }
    #expect(real.stdout.contains("deleted \(seeded.fleet.redundantCopies.count) duplicate copies, freed \(freed) bytes"))
    #expect(real.stdout.contains("keep (copies differ)"))
  }

  // SEMANTICS.md § `.edgemount/`
  @Test func devicesCsvMatchesTheSeededFleet() throws {
    let seeded = try SeededFleet("csv")
    let mount = try MountedBucket(bucket: seeded.bucket)
    defer { mount.unmount() }
    let rows = try String(contentsOfFile: mount.file(".edgemount/devices.csv"), encoding: .utf8).split(separator: "\n").map(
      String.init)
    #expect(
      rows.first
        == "id,model,fw_ver,last_heartbeat,config_synced,pending_firmware,pending_certs,sessions,bytes,first_record,last_record,plaintext_secrets"
    )
    #expect(rows.dropFirst().map { String($0.prefix(8)) } == seeded.fleet.devices.sorted())
    for id in seeded.fleet.devices {
      let row = try #require(rows.first { $0.hasPrefix(id) }).split(separator: ",", omittingEmptySubsequences: false)
      let stored = seeded.fleet.objects.filter { $0.key.hasPrefix(id + "/") && $0.key.dropFirst(9).contains("/") }
      #expect(row[8] == "\(stored.reduce(0) { $0 + $1.body.count })", "\(id) bytes")
      #expect(row[7] == "\(Set(stored.map { $0.key.split(separator: "/")[1] }).count)", "\(id) sessions")
      #expect(row[9] == "" && row[10] == "", "\(id): no header read yet, and the file reads none")
    }
    // Once the real sample's headers are read (its day listed), its recording span shows.
    _ = try FileManager.default.contentsOfDirectory(atPath: mount.file(".by-date/2023-01-11/2F6913DB/00001089"))
    let again = try String(contentsOfFile: mount.file(".edgemount/devices.csv"), encoding: .utf8)
    let sample = try #require(again.split(separator: "\n").first { $0.hasPrefix("2F6913DB,") })
    #expect(sample.hasSuffix(",2023-01-11T17:42:09.103Z,2023-01-11T17:44:59.772Z,"), "\(sample)")
  }

  @Test func versionHelpAndCompletionsWork() throws {
    #expect(
      try Command.run([MountedBucket.edgemount, "--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    let help = try Command.run([MountedBucket.edgemount, "--help"]).stdout
    for option in ["--endpoint", "--read-only", "--list-ttl", "--heartbeat-ttl", "--ca-file", "dedupe"] {
      #expect(help.contains(option), "\(option)")
    }
    let mountHelp = try Command.run([MountedBucket.edgemount, "mount", "--help"]).stdout
    for option in ["--umask", "--allow-other", "--profile", "--log-level", "--foreground"] {
      #expect(mountHelp.contains(option), "\(option)")
    }
    #expect(try Command.run([MountedBucket.edgemount, "--generate-completion-script", "bash"]).stdout.contains("complete"))
  }
}
