import CANedge
import Foundation
import Glibc
import S3
import TestSupport
import Testing

/// `DEVICE/.history/`: every version of a device's config, firmware and certificates, who made
/// it, and rollback as an ordinary validated save; through real mounts on versioned buckets
/// (SeaweedFS, moto) and on a server without versioning (`rclone serve s3`).
@Suite(.serialized) struct HistoryMountTests {
  enum Server: String, CaseIterable, CustomTestStringConvertible {
    case seaweedfs, moto
    var testDescription: String { rawValue }
    var endpointVariable: String { self == .seaweedfs ? "EDGEMOUNT_TEST_ENDPOINT" : "EDGEMOUNT_MOTO_ENDPOINT" }
  }

  struct NotConfigured: Error, CustomStringConvertible {
    var variable: String
    var description: String { "\(variable) is not set: run the tests with scripts/test, which starts the servers" }
  }

  static let device = "A1B2C3D4"
  static let configName = "config-01.09.json"
  static let key = "\(device)/\(configName)"

  static func client(_ variable: String, bucket: String) throws -> S3Client {
    guard let endpoint = ProcessInfo.processInfo.environment[variable] else {
      throw NotConfigured(variable: variable)
    }
    return S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: endpoint, region: "us-east-1"), credentials: try TestS3.credentials,
      transport: CurlTransport())
  }

  /// A new bucket on `variable`'s server, with versioning on if asked.
  static func freshBucket(_ variable: String, _ label: String, versioned: Bool) throws -> (S3Client, String) {
    let endpoint = ProcessInfo.processInfo.environment[variable] ?? ""
    let s3 = try client(variable, bucket: "h\(label)-\(UUID().uuidString.prefix(8).lowercased())")
    try s3.createBucket()
    if versioned { try s3.setBucketVersioning(enabled: true) }
    return (s3, endpoint)
  }

  static var host: String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, 255)
    return String(cString: buffer)
  }
  static let software = "edgemount/0.1.0"

  func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

  /// The errno of a change attempted in Python (0 when it succeeded).
  func errnoOf(_ python: String) throws -> Int32 {
    let script = "import errno, os, sys\ntry:\n    \(python)\n    print(0)\nexcept OSError as e:\n    print(e.errno)\n"
    let r = try Command.run(["python3", "-c", script])
    return Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test(arguments: Server.allCases)
  func savesDeletesAndOtherClientsLeaveVersionsThatRollBack(server: Server) throws {
    let (s3, endpoint) = try Self.freshBucket(server.endpointVariable, server.rawValue, versioned: true)
    let original = try seedCANedge2Device(s3, id: Self.device)
    let mount = try MountedBucket(
      bucket: s3.bucket, endpoint: endpoint, options: ["--allow-delete", "--list-ttl", "1", "--heartbeat-ttl", "1"])
    defer { mount.unmount() }
    let status = text(mount.file(".edgemount/status"))
    #expect(status.contains("bucket_versioning: enabled"), "\(status)")
    let before = try mount.counters()
    let config = mount.file("\(Self.device)/\(Self.configName)")
    func edited(_ value: Int) -> [UInt8] {
      Array(
        String(decoding: original, as: UTF8.self).replacingOccurrences(
          of: "\"split_size\": 50", with: "\"split_size\": \(value)"
        ).utf8)
    }
    // Three saves by three programs.
    var r = try Command.run([
      "vim", "-u", "NONE", "-N", "-e", "-s", "-c", "%s/\"split_size\": 50/\"split_size\": 70/", "-c", "wq", config,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let viaVim = try s3.getObject(key: Self.key)
    r = try Command.run(["sed", "-i", "s/\"split_size\": 70/\"split_size\": 71/", config])
    #expect(r.status == 0, "\(r.stderr)")
    let viaSed = try s3.getObject(key: Self.key)
    r = try Command.run(["cp", try temporaryFile(edited(72), named: Self.configName), config])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: Self.key) == edited(72))
    // A delete (the DELETE follows the unlink after a moment), then another client's PUT.
    r = try Command.run(["rm", config])
    #expect(r.status == 0, "\(r.stderr)")
    try waitUntil("the DELETE reaches the server") { (try? s3.headObject(key: Self.key)) == nil }
    try s3.putObject(key: Self.key, body: edited(80))

    let folder = mount.file("\(Self.device)/.history/\(Self.configName)")
    var names: [String] = []
    try waitUntil("six entries in .history") {
      names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
      return names.count == 6
    }
    #expect(names.count == 6, "\(names)")
    guard names.count == 6 else { return }
    #expect(names[4].hasSuffix(".deleted"), "\(names)")
    let expected: [[UInt8]] = [original, viaVim, viaSed, edited(72), [], edited(80)]
    for (name, bytes) in zip(names, expected) {
      #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"))) == bytes, "\(name)")
    }
    // Names are the UTC time of each version, and so is the mtime.
    let first = try FileManager.default.attributesOfItem(atPath: "\(folder)/\(names[0])")
    let stamp = ISO8601DateFormatter().string(from: first[.modificationDate] as! Date).replacingOccurrences(of: ":", with: "-")
    #expect(names[0].hasPrefix(stamp), "\(names[0]) vs \(stamp)")
    // Who made each one: this mount's writes say so; the other client's do not.
    let editors = names.map { (try? xattr("\(folder)/\($0)", "user.edgemount.edited_by")) ?? "" }
    #expect(editors[0] == "", "\(editors)")
    #expect(editors[1].hasPrefix("root@\(Self.host) vim"), "\(editors)")
    #expect(editors[1].hasSuffix(" \(Self.software)"), "\(editors)")
    #expect(editors[2] == "root@\(Self.host) sed \(Self.software)", "\(editors)")
    #expect(editors[3] == "root@\(Self.host) cp \(Self.software)", "\(editors)")
    #expect(editors[4] == "root@\(Self.host) rm \(Self.software)", "\(editors)")
    #expect(editors[5] == "", "\(editors)")
    let current = names.map { (try? xattr("\(folder)/\($0)", "user.edgemount.current")) ?? "" }
    #expect(current == ["false", "false", "false", "false", "false", "true"], "\(current)")
    #expect(try xattr("\(folder)/\(names[4])", "user.edgemount.delete_marker") == "true")
    #expect(try xattr("\(folder)/\(names[1])", "user.canedge.cfg_crc32") == CRC32.hex(viaVim))
    // getfattr -d lists them all; diff compares two versions as files.
    let dump = try Command.run(["getfattr", "-d", "\(folder)/\(names[1])"])
    for name in ["user.s3.version_id", "user.s3.etag", "user.edgemount.edited_by", "user.canedge.cfg_crc32"] {
      #expect(dump.stdout.contains(name), "\(dump.stdout)")
    }
    let diff = try Command.run(["diff", "\(folder)/\(names[0])", "\(folder)/\(names[1])"])
    #expect(diff.status == 1 && diff.stdout.contains("\"split_size\": 70"), "\(diff.stdout)")
    let long = try Command.run(["ls", "-l", folder])
    #expect(long.stdout.split(separator: "\n").dropFirst().allSatisfy { $0.hasPrefix("-r--------") }, "\(long.stdout)")
    let versionID = try xattr("\(folder)/\(names[1])", "user.s3.version_id")
    #expect(!versionID.isEmpty)
    #expect(try s3.getWholeObject(key: Self.key, versionID: versionID).bytes == viaVim)

    // Rollback to the first version: one PUT, validated, of exactly its bytes.
    let puts = try mount.counters()["requests_put"] ?? 0
    r = try Command.run(["cp", "\(folder)/\(names[0])", config])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: Self.key) == original)
    #expect(try mount.counters()["requests_put"] == puts + 1)

    // A version today's schema refuses: the rollback fails with the reason; S3 is unchanged.
    try s3.putObject(key: Self.key, body: edited(9999))
    try s3.putObject(key: Self.key, body: original)
    var invalid: String?
    try waitUntil("the invalid version is listed") {
      invalid = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().first { name in
        (try? Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"))).map { [UInt8]($0) == edited(9999) } ?? false
      }
      return invalid != nil
    }
    let refused = try Command.run(["cp", "\(folder)/\(invalid ?? "none")", config])
    #expect(refused.status != 0)
    #expect(try s3.getObject(key: Self.key) == original)
    #expect(text(mount.file(".edgemount/errors")).contains("split_size"), "\(text(mount.file(".edgemount/errors")))")

    // changes.csv: one row per change and refusal, matching the requests counted.
    let after = try mount.counters()
    let rows = text(mount.file(".edgemount/changes.csv")).split(separator: "\n").map(String.init)
    #expect(rows.first == "time,device,file,action,version_id,size,user,program,reason")
    let puts_ = rows.filter { $0.contains(",put,") }
    let deletes = rows.filter { $0.contains(",delete,") }
    let refusals = rows.filter { $0.contains(",refused,") }
    #expect(puts_.count == (after["requests_put"] ?? 0) - (before["requests_put"] ?? 0), "\(rows)")
    #expect(deletes.count == (after["requests_delete"] ?? 0) - (before["requests_delete"] ?? 0), "\(rows)")
    #expect(puts_.count == 4 && deletes.count == 1 && refusals.count == 1, "\(rows)")
    #expect(puts_[1].contains("\(Self.device),\(Self.configName),put,"), "\(puts_)")
    #expect(puts_[1].contains(",root,sed,"), "\(puts_)")
    #expect(refusals.first?.contains(",root,cp,") == true, "\(refusals)")
    #expect(puts_.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false)[4].count > 0 }, "version ids: \(puts_)")
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func historyIsHiddenFromWalksAndReadOnly() throws {
    let s3 = try TestS3.freshBucket("histro")
    try s3.setBucketVersioning(enabled: true)
    _ = try seedCANedge2Device(s3, id: Self.device)
    try s3.putObject(key: "\(Self.device)/00000001/00000001-5E0BE100.MF4", body: [1, 2, 3])
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { mount.unmount() }
    let history = mount.file("\(Self.device)/.history")
    let folder = history + "/" + Self.configName
    let names = try FileManager.default.contentsOfDirectory(atPath: folder)
    #expect(names.count == 1)
    // Not listed: ls -a, find and rsync see only the fleet.
    let listing = try Command.run(["ls", "-a", mount.file(Self.device)])
    #expect(!listing.stdout.contains(".history"), "\(listing.stdout)")
    let found = try Command.run(["find", mount.path])
    #expect(!found.stdout.contains(".history"))
    let local = try freshDirectory("histrsync")
    let r = try Command.run(["rsync", "-a", mount.path + "/", local + "/"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: "\(local)/\(Self.device)/.history"))
    #expect(FileManager.default.fileExists(atPath: "\(local)/\(Self.device)/00000001/00000001-5E0BE100.MF4"))
    // Read-only: every change is EROFS with the reason in .edgemount/errors.
    let version = "\(folder)/\(names[0])"
    #expect(try errnoOf("open('\(version)', 'w')") == EROFS)
    #expect(try errnoOf("os.unlink('\(version)')") == EROFS)
    #expect(try errnoOf("open('\(folder)/new', 'w')") == EROFS)
    #expect(try errnoOf("os.mkdir('\(history)/x')") == EROFS)
    #expect(try errnoOf("os.rmdir('\(history)')") == EROFS)
    #expect(try errnoOf("os.rename('\(version)', '\(folder)/moved')") == EROFS)
    #expect(try errnoOf("os.truncate('\(version)', 0)") == EROFS)
    #expect(text(mount.file(".edgemount/errors")).contains("the .history view is read-only"))
    #expect(try s3.listAll(prefix: "", delimiter: nil).objects.count == 4)
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func withoutVersioningTheMountSaysSoAndShowsCurrentVersionsOnly() throws {
    let (s3, endpoint) = try Self.freshBucket("EDGEMOUNT_RCLONE_ENDPOINT", "rclone", versioned: false)
    let original = try seedCANedge2Device(s3, id: Self.device)
    // In the foreground, to read its start-up notice.
    let dir = try freshDirectory("histoff")
    let daemon = try BackgroundProcess([MountedBucket.edgemount, s3.bucket, dir, "--endpoint", endpoint, "--foreground"])
    defer {
      daemon.stop()
      _ = try? Command.run(["umount", "-l", dir])
    }
    try waitUntil("mounted") { FileManager.default.fileExists(atPath: dir + "/.edgemount/status") }
    let mount = (file: { (relative: String) in dir + "/" + relative }, path: dir)
    #expect(text(mount.file(".edgemount/status")).contains("bucket_versioning: off"))
    #expect(
      daemon.output.contains("bucket versioning is off: an overwritten or deleted config cannot be restored"),
      "\(daemon.output)")
    let config = mount.file("\(Self.device)/\(Self.configName)")
    let r = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 61/", config])
    #expect(r.status == 0, "\(r.stderr)")
    let saved = try s3.getObject(key: Self.key)
    #expect(saved != original)
    let folder = mount.file("\(Self.device)/.history/\(Self.configName)")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder)
    #expect(names.count == 1, "\(names)")
    #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(names.first ?? "")"))) == saved)
    #expect(try xattr("\(folder)/\(names.first ?? "")", "user.edgemount.current") == "true")
    // Nothing is emulated in the bucket.
    #expect(
      try s3.listAll(prefix: "", delimiter: nil).objects.map(\.key).sorted() == [
        "\(Self.device)/config-01.09.json", "\(Self.device)/device.json", "\(Self.device)/schema-01.09.json",
      ])
  }

  /// The other ways users copy a file back: `cp -a` (which also tries to copy the version's
  /// xattrs, mode and time) and `rsync` (a temp file renamed over the config): one validated PUT
  /// each, named by its program.
  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func cpDashAAndRsyncRollBackToo() throws {
    let s3 = try TestS3.freshBucket("histcp")
    try s3.setBucketVersioning(enabled: true)
    let original = try seedCANedge2Device(s3, id: Self.device)
    let changed = Array(
      String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"split_size\": 50", with: "\"split_size\": 100").utf8)
    try s3.putObject(key: Self.key, body: changed)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let folder = mount.file("\(Self.device)/.history/\(Self.configName)")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    #expect(names.count == 2, "\(names)")
    guard names.count == 2 else { return }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    let puts = try mount.counters()["requests_put"] ?? 0
    var r = try Command.run(["cp", "-a", "\(folder)/\(names[0])", config])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: Self.key) == original)
    // (Of a different size: rsync skips a file whose size and mtime match, and the mount's
    // mtime after cp -a is the save's second, which a fast test can share with the version's.)
    r = try Command.run(["rsync", "-a", "\(folder)/\(names[1])", config])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: Self.key) == changed)
    #expect(try mount.counters()["requests_put"] == puts + 2)
    let rows = text(mount.file(".edgemount/changes.csv")).split(separator: "\n").dropFirst()
    #expect(rows.map { $0.split(separator: ",", omittingEmptySubsequences: false)[7] } == ["cp", "rsync"], "\(rows)")
  }

  /// The shell's idioms: `cat >` and a heredoc (the shell opens the file, `cat` writes and
  /// closes it) and `mv` from another filesystem: each one PUT, named by the program that
  /// closed the file.
  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func shellRedirectsAndMvAreNamedByTheProgramThatSaved() throws {
    let s3 = try TestS3.freshBucket("histsh")
    try s3.setBucketVersioning(enabled: true)
    let original = try seedCANedge2Device(s3, id: Self.device)
    // mv from another filesystem unlinks the target first: that needs --allow-delete, and the
    // save that follows takes the place of the DELETE.
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/\(Self.configName)")
    func variant(_ n: Int) throws -> String {
      try temporaryFile(
        Array(
          String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"split_size\": 50", with: "\"split_size\": \(n)")
            .utf8),
        named: Self.configName)
    }
    let puts = try mount.counters()["requests_put"] ?? 0
    var r = try Command.run(["bash", "-c", "cat \(try variant(81)) > \(config)"])
    #expect(r.status == 0, "\(r.stderr)")
    r = try Command.run([
      "bash", "-c",
      "cat > \(config) <<'EOF'\n\(String(decoding: try s3.getObject(key: Self.key), as: UTF8.self).replacingOccurrences(of: "\"split_size\": 81", with: "\"split_size\": 82"))\nEOF",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    r = try Command.run(["mv", try variant(83), config])
    #expect(r.status == 0, "\(r.stderr) \(text(mount.file(".edgemount/errors")))")
    #expect(String(decoding: try s3.getObject(key: Self.key), as: UTF8.self).contains("\"split_size\": 83"))
    #expect(try mount.counters()["requests_put"] == puts + 3)
    #expect(try mount.counters()["requests_delete"] == 0)
    let programs = text(mount.file(".edgemount/changes.csv")).split(separator: "\n").dropFirst().map {
      String($0.split(separator: ",", omittingEmptySubsequences: false)[7])
    }
    #expect(programs == ["cat", "cat", "mv"], "\(programs)")
  }

  /// Firmware back and forth through `.history`, with the config-first rule of a MAJOR/MINOR
  /// change; and a config rollback the simulated device applies and confirms.
  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func firmwareRollbackKeepsTheConfigFirstRule() throws {
    let s3 = try TestS3.freshBucket("histfw")
    try s3.setBucketVersioning(enabled: true)
    try FirmwareAndCertificateTests.seedDevice(s3, Self.device)
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--list-ttl", "1"])
    defer { mount.unmount() }
    func errors() -> String { text(mount.file(".edgemount/errors")) }
    let target = mount.file("\(Self.device)/firmware.bin")
    let v0908 = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 8)
    let v0909 = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 9)
    let v0800 = FirmwareImage.build(
      model: .canedge2, major: 1, minor: 8, patch: 0, schema: try Fixtures.bytes("schemas/CANedge2/schema-01.08.json"))
    #expect(try Command.run(["cp", try temporaryFile(v0908, named: "firmware.bin"), target]).status == 0)
    #expect(try Command.run(["cp", try temporaryFile(v0909, named: "firmware.bin"), target]).status == 0)
    // Another client stages an 01.08 image and replaces it (the mount would have refused it).
    try s3.putObject(key: "\(Self.device)/firmware.bin", body: v0800)
    try s3.putObject(key: "\(Self.device)/firmware.bin", body: v0909)
    let folder = mount.file("\(Self.device)/.history/firmware.bin")
    var names: [String] = []
    try waitUntil("four firmware versions") {
      names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
      return names.count == 4
    }
    guard names.count == 4 else { return }
    // Back to 01.09.08: the same MAJOR.MINOR, accepted.
    var r = try Command.run(["cp", "\(folder)/\(names[0])", target])
    #expect(r.status == 0, "\(r.stderr) \(errors())")
    #expect(try s3.getObject(key: "\(Self.device)/firmware.bin") == v0908)
    // Back to 01.08.00: refused until config-01.08.json is on the server.
    r = try Command.run(["cp", "\(folder)/\(names[2])", target])
    #expect(r.status != 0)
    #expect(errors().contains("upload config-01.08.json first"), "\(errors())")
    #expect(try s3.getObject(key: "\(Self.device)/firmware.bin") == v0908)
  }

  @Test func aConfigRollbackIsAppliedAndConfirmedByTheDevice() throws {
    let s3 = try TestS3.freshBucket("histsim")
    try s3.setBucketVersioning(enabled: true)
    let id = "5E1A7E03"
    let sim = try startSimulatedDevice(bucket: s3.bucket, device: id)
    defer { sim.stop() }
    try waitUntil("the device uploads its config") { (try? s3.headObject(key: "\(id)/config-01.09.json")) != nil }
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--heartbeat-ttl", "1", "--list-ttl", "1"])
    defer { mount.unmount() }
    let config = mount.file("\(id)/config-01.09.json")
    try waitUntil("the device runs its default config") { try xattr(mount.file(id), "user.canedge.config_synced") == "true" }
    let r = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 65/", config])
    #expect(r.status == 0, "\(r.stderr)")
    try waitUntil("the device runs the edit") { try xattr(mount.file(id), "user.canedge.config_synced") == "true" }
    let folder = mount.file("\(id)/.history/config-01.09.json")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    #expect(names.count == 2, "\(names)")
    guard let first = names.first else { return }
    let crc = try xattr("\(folder)/\(first)", "user.canedge.cfg_crc32")
    #expect(try Command.run(["cp", "\(folder)/\(first)", config]).status == 0)
    try waitUntil("device.json reports the first version's CRC-32") {
      String(decoding: try s3.getObject(key: "\(id)/device.json"), as: UTF8.self).contains("\"cfg_crc32\": \"\(crc)\"")
    }
    try waitUntil("the mount shows the device as synced") {
      try xattr(mount.file(id), "user.canedge.config_synced") == "true"
    }
    let devices = text(mount.file(".edgemount/devices.csv"))
    #expect(devices.split(separator: "\n").first { $0.hasPrefix(id) }?.contains(",true,") == true, "\(devices)")
    // device.json's many versions (one per heartbeat) are not in .history.
    let kept = try FileManager.default.contentsOfDirectory(atPath: mount.file("\(id)/.history")).sorted()
    #expect(kept == ["config-01.09.json"], "\(kept)")
  }
}
