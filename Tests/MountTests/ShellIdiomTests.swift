import CANedge
import Foundation
import Locking
import S3
import TestSupport
import Testing

/// The shell idioms fleet engineers use every day, through a real mount: a save is one PUT of
/// the whole file or none, nothing is deleted by accident, and nothing pretends to work.
@Suite(.serialized) struct ShellIdiomTests {
  static let device = "A1B2C3D4"
  static let configKey = "\(device)/config-01.09.json"
  static let certsKey = "\(device)/certs_server.p7b"

  let s3: S3Client
  let original: [UInt8]

  init() throws {
    s3 = try TestS3.freshBucket("shell")
    original = try seedCANedge2Device(s3, id: Self.device)
  }

  func variant(_ n: Int) -> [UInt8] { original.replacing("\"split_size\": 50", "\"split_size\": \(n)") }
  func local(_ bytes: [UInt8], _ name: String = "x.json") throws -> String { try temporaryFile(bytes, named: name) }
  func errors(_ mount: MountedBucket) -> String {
    (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? ""
  }
  func puts(_ mount: MountedBucket) throws -> Int { try mount.counters()["requests_put"] ?? -1 }

  /// Reads `key` from S3 every few milliseconds while `body` runs; returns every distinct
  /// state seen (nil: no object).
  func polling(_ key: String, during body: () throws -> Void) rethrows -> [[UInt8]?] {
    let seen = Locked<[[UInt8]?]>([])
    let stop = Locked(false)
    let client = s3
    let poller = Thread {
      while !stop.withLock({ $0 }) {
        let now: [UInt8]? = try? client.getObject(key: key)
        seen.withLock { if $0.last.map({ $0 != now }) ?? true { $0.append(now) } }
        usleep(3_000)
      }
    }
    poller.start()
    defer {
      stop.withLock { $0 = true }
      while poller.isExecuting { usleep(1_000) }
    }
    try body()
    usleep(20_000)
    return seen.withLock { $0 }
  }

  // SEMANTICS.md § Changes
  @Test func everySaveIdiomMakesExactlyOnePutAndARefusedOneNone() throws {
    // --allow-delete for install, which unlinks the target before it writes: the DELETE waits
    // and the save that follows replaces the object instead (without the option install stops
    // at the unlink with EPERM, see mvFromAnotherFilesystem...).
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { mount.unmount() }
    let config = mount.file(Self.configKey)
    var current = original
    let idioms: [(String, (String) -> [String])] = [
      ("cat >", { src in ["bash", "-c", "cat '\(src)' > '\(config)'"] }),
      ("heredoc", { src in ["bash", "-c", "cat > '\(config)' <<EOF\n$(cat '\(src)')\nEOF"] }),
      ("tee", { src in ["bash", "-c", "tee '\(config)' < '\(src)' > /dev/null"] }),
      ("printf >", { src in ["bash", "-c", "printf '%s' \"$(cat '\(src)'; printf x)\" | head -c -1 > '\(config)'"] }),
      ("dd of=", { src in ["dd", "if=\(src)", "of=\(config)", "status=none"] }),
      ("cp", { src in ["cp", src, config] }),
      ("install", { src in ["install", "-m", "644", src, config] }),
      ("rsync", { src in ["rsync", src, config] }),
    ]
    for (i, (name, command)) in idioms.enumerated() {
      // A different length each time, so rsync's size-and-time check never skips a copy.
      var body = original.replacing("\"split_size\": 50", "\"split_size\":" + String(repeating: " ", count: i + 1) + "\(60 + i)")
      // The heredoc's $(...) drops the final newline and the here-document ends with one.
      if name == "heredoc", body.last != 10 { body.append(10) }
      let before = try puts(mount)
      let seen = try polling(Self.configKey) {
        let r = try Command.run(command(try local(body)))
        #expect(r.status == 0, "\(name): \(r.stderr)")
      }
      let made = try puts(mount) - before
      #expect(made == 1, "\(name) made \(made) PUTs")
      #expect(try s3.getObject(key: Self.configKey) == body, "\(name)")
      for state in seen {
        #expect(state == current || state == body, "\(name): a poller saw \(state?.count ?? -1) bytes, neither old nor new")
      }
      current = body
      // The same idiom with an invalid file: no PUT, the server as it was.
      let refusedBefore = try puts(mount)
      let broken = Array(
        String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\"split_size\"", with: "split_size").utf8)
      let r = try Command.run(command(try local(broken)))
      #expect(r.status != 0, "\(name) of an invalid config reported success")
      #expect(try puts(mount) == refusedBefore, "\(name): a refused save made a PUT")
      #expect(try s3.getObject(key: Self.configKey) == current, "\(name): a refused save changed the server")
    }
    // No spurious "the file is empty" from the shell's own first close of `> file`.
    #expect(!errors(mount).contains("the file is empty"), "\(errors(mount))")
  }

  @Test func aRefusedCertificateRedirectLeavesTheBundleAndAValidOneIsOnePut() throws {
    let certs = try TestCertificates()
    defer { certs.remove() }
    let good = try certs.bundle(of: try certs.validCertificates(1), der: true, name: "good.p7b")
    try s3.putObject(key: Self.certsKey, body: [UInt8](try Data(contentsOf: good)))
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let target = mount.file(Self.certsKey)
    let kept = try s3.getObject(key: Self.certsKey)
    let expired = try certs.bundle(of: try certs.expiredCertificate(), der: true, name: "old.p7b")
    let future = try certs.bundle(of: try certs.futureCertificate(), der: true, name: "future.p7b")
    for (what, file) in [("expired", expired), ("not yet valid", future)] {
      let before = try puts(mount)
      let seen = try polling(Self.certsKey) {
        let r = try Command.run(["bash", "-c", "cat '\(file.path)' > '\(target)'"])
        #expect(r.status != 0, "\(what): \(r.stderr)")
      }
      #expect(try puts(mount) == before, "\(what): a refused bundle made a PUT")
      #expect(seen.allSatisfy { $0 == kept }, "\(what): the server's bundle changed during the save")
    }
    #expect(errors(mount).contains("is not valid yet: valid from 2030-01-01"), "\(errors(mount))")
    // A source that does not exist: bash truncates, cat fails, nothing is written: not a save.
    let r = try Command.run(["bash", "-c", "cat /nonexistent.p7b > '\(target)'"])
    #expect(r.status != 0)
    #expect(try s3.getObject(key: Self.certsKey) == kept)
    // A valid bundle through a redirect: one PUT, never an empty object in between.
    let next = try certs.bundle(of: try certs.validCertificates(2, name: "next"), der: true, name: "next.p7b")
    let before = try puts(mount)
    let seen = try polling(Self.certsKey) {
      let r = try Command.run(["bash", "-c", "cat '\(next.path)' > '\(target)'"])
      #expect(r.status == 0, "\(r.stderr)")
    }
    #expect(try puts(mount) - before == 1)
    let nextBytes = [UInt8](try Data(contentsOf: next))
    #expect(seen.allSatisfy { $0 == kept || $0 == nextBytes } && !seen.contains([]), "a poller saw an empty or partial bundle")
  }

  // SEMANTICS.md § Changes
  @Test func mvFromAnotherFilesystemNeverLeavesTheDeviceWithoutAConfig() throws {
    // Without --allow-delete: mv's unlink is refused, mv stops, the server keeps its config.
    var mount = try MountedBucket(bucket: s3.bucket)
    var config = mount.file(Self.configKey)
    var r = try Command.run(["mv", try local(variant(77)), config])
    #expect(r.status != 0 && r.stderr.contains("Operation not permitted"), "\(r.stderr)")
    #expect(try s3.getObject(key: Self.configKey) == original)
    mount.unmount()
    // With --allow-delete: the DELETE mv sends first is replaced by the save that follows.
    mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { mount.unmount() }
    config = mount.file(Self.configKey)
    let seen = try polling(Self.configKey) {
      r = try Command.run(["mv", try local(variant(78)), config])
      #expect(r.status == 0, "\(r.stderr)")
    }
    #expect(try s3.getObject(key: Self.configKey) == variant(78))
    #expect(!seen.contains { $0 == nil }, "there was a moment without a config on the server")
    Thread.sleep(forTimeInterval: 1.5)  // past the DELETE's grace: it must not come late
    #expect(try s3.getObject(key: Self.configKey) == variant(78))
    // An invalid file: mv fails, the server keeps the config, and it stays.
    let bad = Array("{\"log\": 1,}".utf8)
    r = try Command.run(["mv", try local(bad), config])
    #expect(r.status != 0)
    Thread.sleep(forTimeInterval: 1.5)
    #expect(try s3.getObject(key: Self.configKey) == variant(78))
    #expect(errors(mount).contains("trailing comma"))
    // install unlinks the target first too.
    r = try Command.run(["install", "-m", "644", try local(variant(79)), config])
    #expect(r.status == 0, "\(r.stderr)")
    Thread.sleep(forTimeInterval: 1.5)
    #expect(try s3.getObject(key: Self.configKey) == variant(79))
    // A plain rm with --allow-delete deletes (after its grace).
    #expect(try Command.run(["rm", config]).status == 0)
    Thread.sleep(forTimeInterval: 1.5)
    #expect(throws: S3Error.self) { try s3.headObject(key: Self.configKey) }
  }

  @Test func rmDashRfOfADeviceWithoutAllowDeleteLeavesEveryObject() throws {
    try s3.putObject(key: "\(Self.device)/00000001/00000001-5E0BE100.MF4", body: [1, 2, 3])
    try s3.putObject(
      key: "\(Self.device)/firmware.bin", body: FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 2))
    let before = try s3.listAll(prefix: "\(Self.device)/", delimiter: nil).objects.map(\.key).sorted()
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let r = try Command.run(["rm", "-rf", mount.file(Self.device) + "/"])
    #expect(r.status != 0, "rm -rf reported success")
    #expect(try s3.listAll(prefix: "\(Self.device)/", delimiter: nil).objects.map(\.key).sorted() == before)
    #expect(errors(mount).contains("needs a mount with --allow-delete"))
  }

  @Test func misnamedServerFilesAreRefusedAndScratchFilesLookLocal() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let image = try local(FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 2), "ce2-010902.bin")
    // The fleet loop with the wrong target name fails loudly instead of deploying nothing.
    var r = try Command.shell("for d in \(mount.path)/*/; do cp \(image) \"$d\"; done")
    #expect(r.status != 0 && r.stderr.contains("Invalid argument"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: mount.file("\(Self.device)/ce2-010902.bin")))
    #expect(errors(mount).contains("copy the image as firmware.bin"))
    for name in ["config-1.9.json", "config.json", "server.pem", "certs.p7b"] {
      r = try Command.run(["cp", try local(original), mount.file("\(Self.device)/\(name)")])
      #expect(r.status != 0, "\(name) was accepted as a local file")
    }
    // Editors' files still work, and are visibly local.
    let swap = mount.file("\(Self.device)/.config-01.09.json.swp")
    try Data("x".utf8).write(to: URL(fileURLWithPath: swap))
    let mode = (try FileManager.default.attributesOfItem(atPath: swap)[.posixPermissions] as? Int) ?? 0
    #expect(mode == 0o600)
    let x = try Command.run(["getfattr", "--only-values", "-n", "user.edgemount.local", swap])
    #expect(x.stdout == "true", "\(x.stderr)")
  }

  @Test func vimSavesWithOnePutAndARefusedSaveMakesNoneAndLeavesNoBackup() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file(Self.configKey)
    func vim(_ command: String) throws -> Int32 {
      try Command.run(["vim", "-u", "NONE", "-N", "-es", "-c", command, "-c", "wq", config]).status
    }
    var before = try puts(mount)
    #expect(try vim("%s/\"split_size\": 50/\"split_size\": 51/") == 0)
    #expect(try puts(mount) - before == 1)
    before = try puts(mount)
    // Refused: vim reports it and writes its backup back, which is the server's content: no PUT.
    #expect(try vim("%s/\"split_size\": 51/\"split_size\": 9999/") != 0)
    #expect(try puts(mount) == before, "a refused vim save made a PUT")
    let names = try FileManager.default.contentsOfDirectory(atPath: mount.file(Self.device)).sorted()
    #expect(names == ["config-01.09.json", "device.json", "schema-01.09.json"], "\(names)")
  }

  @Test func concurrentSaversGetEBUSYWithAReason() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file(Self.configKey)
    let files = try (0..<4).map { try local(variant(80 + $0)) }
    let script =
      files.map { "cp \($0) \(config) 2>>/tmp/em-conc-$$.err &" }.joined(separator: "\n")
      + "\nwait\ncat /tmp/em-conc-$$.err; rm -f /tmp/em-conc-$$.err"
    let r = try Command.shell(script)
    let busy = r.stdout.split(separator: "\n").filter { $0.contains("busy") }.count
    let server = try s3.getObject(key: Self.configKey)
    #expect((0..<4).contains { server == variant(80 + $0) }, "the server holds a mix")
    #expect(busy == errors(mount).components(separatedBy: "refused (conflict)").count - 1, "\(r.stdout) / \(errors(mount))")
  }

  @Test func aHugeConfigIsRefusedWithTheRealLimit() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let r = try Command.shell("head -c 209715200 /dev/zero | tr '\\0' ' ' > \(mount.file(Self.configKey))")
    #expect(r.status != 0)
    #expect(r.stderr.contains("File too large"), "\(r.stderr)")
    #expect(errors(mount).contains("64 MiB at most"), "\(errors(mount))")
    #expect(try s3.getObject(key: Self.configKey) == original)
  }

  @Test func rsyncOfTheFleetRootCopiesOnlyTheFleetAndAReRunIsQuiet() throws {
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let backup = FileManager.default.temporaryDirectory.appendingPathComponent("backup-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: backup) }
    var r = try Command.run(["rsync", "-a", mount.path + "/", backup + "/"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: backup + "/.edgemount"))
    r = try Command.run(["rsync", "-a", "--itemize-changes", mount.path + "/", backup + "/"])
    #expect(r.status == 0 && r.stdout.isEmpty, "a re-run copied: \(r.stdout)")
    // A fresh mount counts no failure for the answers that are expected.
    let fresh = try mount.counters()
    #expect(fresh["requests_failed"] == 0, "\(fresh)")
  }

  @Test func aNonEmptyMountPointIsRefusedUnlessAskedFor() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nonempty-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir + "/keep", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try Command.run([MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL])
    #expect(r.status != 0 && r.stderr.contains("is not empty"), "\(r.stderr)")
    let forced = try Command.run([
      MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL, "-o", "nonempty",
    ])
    #expect(forced.status == 0, "\(forced.stderr)")
    _ = try Command.run(["fusermount3", "-u", dir])
  }
}

/// A program killed while it writes a device file (Ctrl-C, kill -9 in the middle of a `cp`):
/// the kernel closes its files, but what it wrote is only a beginning, and is not uploaded.
@Suite(.serialized) struct KilledWriterTests {
  @Test func aWriterKilledMidwayUploadsNothingAndOneThatExitsNormallyUploads() throws {
    let s3 = try TestS3.freshBucket("killed")
    try FirmwareAndCertificateTests.seedDevice(s3, "A1B2C3D4")
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 4)
    let source = FileManager.default.temporaryDirectory.appendingPathComponent("fw-\(UUID()).bin")
    try Data(image).write(to: source)
    let target = mount.file("A1B2C3D4/firmware.bin")
    // Half the image, then killed: the header alone would pass the firmware check.
    for signal in ["SIGKILL", "SIGTERM"] {
      let script = """
        import os, signal, sys
        data = open(sys.argv[1], 'rb').read()
        fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.write(fd, data[:len(data) // 2])
        if signal.\(signal) != signal.SIGKILL:
            signal.signal(signal.\(signal), signal.SIG_DFL)  # as a shell's child has it
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.\(signal)])
        os.kill(os.getpid(), signal.\(signal))
        """
      let r = try Command.run(["python3", "-c", script, source.path, target])
      #expect(r.status != 0)
      Thread.sleep(forTimeInterval: 0.3)
      let errorsNow = (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? ""
      #expect(throws: S3Error.self, "\(signal): a partial firmware reached the server: \(r.stdout) \(r.stderr) \(errorsNow)") {
        try s3.headObject(key: "A1B2C3D4/firmware.bin")
      }
    }
    let errors = (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? ""
    #expect(errors.contains("killed by signal 9") && errors.contains("killed by signal 15"), "\(errors)")
    // A program that fails (an exception, exit status 1) without closing the file: the same.
    let failing = """
      import os, sys
      data = open(sys.argv[1], 'rb').read()
      fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
      os.write(fd, data[:len(data) // 2])
      raise SystemExit(1)
      """
    #expect(try Command.run(["python3", "-c", failing, source.path, target]).status == 1)
    Thread.sleep(forTimeInterval: 0.3)
    #expect(throws: S3Error.self, "a failing writer's partial firmware reached the server") {
      try s3.headObject(key: "A1B2C3D4/firmware.bin")
    }
    // A program that writes everything and exits without closing: the kernel's close saves it.
    let whole = """
      import os, sys
      fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
      os.write(fd, open(sys.argv[1], 'rb').read())
      os._exit(0)
      """
    #expect(try Command.run(["python3", "-c", whole, source.path, target]).status == 0)
    Thread.sleep(forTimeInterval: 0.3)
    #expect(try s3.getObject(key: "A1B2C3D4/firmware.bin") == image)
  }
}
