import DemoFleet
import Digest
import Foundation
import S3
import TestSupport
import Testing

/// A config holds the device's own secrets (its S3 secret key, Wi-Fi passwords). On a mount
/// shared with `--allow-other`, other local users list the fleet and read its logs, but not
/// the configs; and no secret's value ever shows in the log, `.edgemount/` or an xattr.
@Suite(.serialized) struct ConfigSecretsTests {
  static let plain = "A1B2C3D4"
  static let encrypted = "B2C3D4E5"
  static let secretValues = ["Zx9TopSecretS3KeyQw7", "WifiPassDepot42"]
  static let nobody = 65534

  let s3: S3Client

  init() throws {
    s3 = try TestS3.freshBucket("secrets")
    try seedCANedge2Device(s3, id: Self.plain)
    try s3.putObject(
      key: "\(Self.plain)/config-01.09.json", body: try Fixtures.bytes("configs/ce2-01.09-plaintext-secrets.json"))
    try s3.putObject(key: "\(Self.plain)/00000001/00000001-5E0BE100.MF4", body: try Fixtures.bytes(SampleLog.fixture))
    try seedCANedge2Device(s3, id: Self.encrypted)
    try s3.putObject(
      key: "\(Self.encrypted)/config-01.09.json", body: try Fixtures.bytes("configs/ce2-01.09-encrypted-secrets.json"))
    // An encrypted key format needs the device's public key.
    try s3.putObject(
      key: "\(Self.encrypted)/device.json",
      body: Array(
        #"{"id":"B2C3D4E5","type":"0000001F","kpub":"AAAA","fw_ver":"01.09.01","cfg_name":"config-01.09.json","sch_name":"schema-01.09.json","cfg_crc32":"00000000"}"#
          .utf8))
  }

  /// Runs `arguments` as user `uid` with group `gid` and no other groups.
  func run(as uid: Int, group gid: Int, _ arguments: [String]) throws -> Command.Result {
    try Command.run(["setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"] + arguments)
  }

  func expectDenied(_ r: Command.Result, _ what: String) {
    #expect(r.status != 0 && r.stderr.contains("Permission denied"), "\(what): \(r.status) \(r.stdout) \(r.stderr)")
  }

  // SEMANTICS.md § Who can read a config
  @Test func anotherUserListsAndReadsLogsButNoConfig() throws {
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-other"])
    defer { mount.unmount() }
    let config = mount.file("\(Self.plain)/config-01.09.json")
    // The owner's own copy, as an editor leaves one: a scratch file in the device folder.
    #expect(try Command.run(["cp", config, mount.file("\(Self.plain)/.config-01.09.json.swp")]).status == 0)
    let listing = try Command.run(["ls", "-l", mount.file(Self.plain)]).stdout
    #expect(listing.contains("-rw------- 1 root root") && listing.contains("config-01.09.json"), "\(listing)")

    for path in [
      config, mount.file(".raw/\(Self.plain)/config-01.09.json"), mount.file("\(Self.plain)/.config-01.09.json.swp"),
      mount.file("\(Self.encrypted)/config-01.09.json"),
    ] {
      expectDenied(try run(as: Self.nobody, group: Self.nobody, ["cat", path]), path)
      expectDenied(try run(as: Self.nobody, group: Self.nobody, ["getfattr", "-n", "user.s3.etag", path]), "getfattr \(path)")
    }
    // Nor can it write one, nor create a file in a device folder.
    expectDenied(try run(as: Self.nobody, group: Self.nobody, ["sh", "-c", "echo {} > \(config)"]), "write")
    expectDenied(try run(as: Self.nobody, group: Self.nobody, ["touch", mount.file("\(Self.plain)/x.txt")]), "create")

    // The rest of the tree is theirs to use.
    let walk = try run(as: Self.nobody, group: Self.nobody, ["ls", "-lR", mount.path])
    #expect(walk.status == 0 && walk.stdout.contains("00000001-5E0BE100.MF4"), "\(walk.stderr)")
    let log = try run(
      as: Self.nobody, group: Self.nobody, ["md5sum", mount.file("\(Self.plain)/00000001/00000001-5E0BE100.MF4")])
    let logMD5 = Digest.hex(Digest.md5(try Fixtures.bytes(SampleLog.fixture)))
    #expect(log.status == 0 && log.stdout.hasPrefix(logMD5), "\(log.stderr)")
    for path in ["\(Self.plain)/device.json", "\(Self.plain)/schema-01.09.json", ".edgemount/status", ".edgemount/devices.csv"] {
      let r = try run(as: Self.nobody, group: Self.nobody, ["cat", mount.file(path)])
      #expect(r.status == 0 && !r.stdout.isEmpty, "\(path): \(r.stderr)")
    }

    // The owner's saves work as before.
    let sed = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 60/", config])
    #expect(sed.status == 0, "\(sed.stderr)")
    #expect(
      String(decoding: try s3.getObject(key: "\(Self.plain)/config-01.09.json"), as: UTF8.self).contains("\"split_size\": 60"))
  }

  // SEMANTICS.md § Who can read a config
  @Test func configModeGivesAGroupReadAndNoOneElse() throws {
    let group = 4242
    let mount = try MountedBucket(
      bucket: s3.bucket, options: ["--allow-other", "--config-mode", "0640", "--gid", "\(group)"])
    defer { mount.unmount() }
    let config = mount.file("\(Self.plain)/config-01.09.json")
    let member = try run(as: Self.nobody, group: group, ["cat", config])
    #expect(member.status == 0 && member.stdout.contains("secretkey"), "\(member.stderr)")
    #expect(try run(as: Self.nobody, group: group, ["cat", mount.file(".raw/\(Self.plain)/config-01.09.json")]).status == 0)
    expectDenied(try run(as: Self.nobody, group: Self.nobody, ["cat", config]), "non-member")
    // Read only: writing stays the owner's.
    expectDenied(try run(as: Self.nobody, group: group, ["sh", "-c", "echo {} > \(config)"]), "member writes")
    let mode = try Command.run(["stat", "-c", "%a %g", config]).stdout
    #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "640 \(group)")
  }

  @Test func aModeThatWouldGiveWriteOrExecuteIsRefused() throws {
    for mode in ["0660", "0700", "0400", "0606", "abc", "01644"] {
      let dir = try freshDirectory("mnt-mode")
      let r = try Command.run([
        MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL, "--config-mode", mode,
      ])
      #expect(r.status != 0 && r.stderr.contains("--config-mode"), "\(mode): \(r.stderr)")
    }
  }

  /// Reads, an accepted save and every kind of refused save of a config full of secrets:
  /// the errors file names the paths once per file, devices.csv counts them, and no value is in
  /// the log (at debug level), `.edgemount/`, the xattrs or the process list.
  @Test func plainTextSecretsAreNamedButTheirValuesAppearNowhere() throws {
    let dir = try freshDirectory("mnt-secret-values")
    let daemon = try BackgroundProcess([
      MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL, "--foreground", "--debug",
    ])
    defer {
      daemon.stop()
      _ = try? Command.run(["umount", "-l", dir])
    }
    waitForMount(dir)
    let config = "\(dir)/\(Self.plain)/config-01.09.json"
    let text = try String(contentsOfFile: config, encoding: .utf8)
    _ = try String(contentsOfFile: config, encoding: .utf8)
    _ = try String(contentsOfFile: "\(dir)/\(Self.encrypted)/config-01.09.json", encoding: .utf8)
    func errors() -> String { (try? String(contentsOfFile: "\(dir)/.edgemount/errors", encoding: .utf8)) ?? "" }
    let warnings = errors().split(separator: "\n").filter { $0.contains("plain-text secret") }
    #expect(warnings.count == 1, "one line per device and file: \(errors())")
    #expect(
      warnings.first?.contains(
        "\(Self.plain)/config-01.09.json: warning: 2 plain-text secrets ($.connect.s3.server.secretkey, $.connect.wifi.accesspoint[0].pwd)"
      )
        == true, "\(warnings)")
    #expect(!errors().contains(Self.encrypted), "an encrypted config gives no line: \(errors())")

    // An accepted save, then refused ones: syntax at the secret, schema at the secret, conflict.
    func save(_ content: String) throws -> Command.Result {
      try Command.run(["sh", "-c", "cat > \(config)"], input: content)
    }
    let accepted = text.replacingOccurrences(of: "\"split_size\": 50", with: "\"split_size\": 55")
    #expect(try save(accepted).status == 0)
    for refused in [
      accepted.replacingOccurrences(of: "\"Zx9TopSecretS3KeyQw7\"", with: "Zx9TopSecretS3KeyQw7"),
      accepted.replacingOccurrences(of: "\"WifiPassDepot42\"", with: "\" WifiPassDepot42\""),
      accepted.replacingOccurrences(of: "\"Zx9TopSecretS3KeyQw7\"", with: "\"Zx9\\qTopSecretS3KeyQw7\""),
    ] {
      let r = try save(refused)
      #expect(r.status != 0 && r.stderr.contains("Invalid argument"), "\(r.stderr)")
      for value in Self.secretValues { #expect(!r.stderr.contains(value)) }
    }
    // A conflict: another client changes the file between this program's open and its close.
    let conflict = try Command.run([
      "python3", "-c",
      """
      import os, subprocess, sys
      fd = os.open(sys.argv[1], os.O_RDWR)
      subprocess.run(sys.argv[2:], check=True)
      os.pwrite(fd, b' ', os.fstat(fd).st_size)
      try:
          os.close(fd)
      except OSError as e:
          print(e.errno)
      """,
      config, "python3", "-c",
      "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1]).put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=sys.argv[4].encode())",
      try TestS3.endpointURL, s3.bucket, "\(Self.plain)/config-01.09.json", accepted + "\n",
    ])
    #expect(
      conflict.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(EBUSY)", "\(conflict.stdout) \(conflict.stderr)")

    let csv = try String(contentsOfFile: "\(dir)/.edgemount/devices.csv", encoding: .utf8)
    let rows = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
    #expect(rows.first?.last == "plaintext_secrets")
    #expect(rows.first(where: { $0.first == Substring(Self.plain) })?.last == "2", "\(csv)")
    #expect(rows.first(where: { $0.first == Substring(Self.encrypted) })?.last == "0", "\(csv)")

    var seen = daemon.output + (try Command.run(["ps", "-eo", "args"]).stdout)
    for file in ["status", "errors", "duplicates", "devices.csv", "days.csv"] {
      seen += (try? String(contentsOfFile: "\(dir)/.edgemount/\(file)", encoding: .utf8)) ?? ""
    }
    for path in [config, "\(dir)/\(Self.plain)", "\(dir)/.raw/\(Self.plain)/config-01.09.json"] {
      seen += try Command.run(["getfattr", "-d", "-m", "-", path]).stdout
    }
    #expect(seen.contains("rejected") && seen.contains("refused (conflict)"), "the refusals were logged")
    #expect(seen.contains("saved \(Self.plain)/config-01.09.json"), "the log was read")
    for value in Self.secretValues { #expect(!seen.contains(value), "\(value) leaked") }
  }
}
