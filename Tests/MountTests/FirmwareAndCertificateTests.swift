import CANedge
import Foundation
import S3
import TestSupport
import Testing

/// Firmware and certificate drop-ins through the mount, judged per device.
@Suite(.serialized) struct FirmwareAndCertificateTests {
  static func heartbeat(_ id: String, type: String, fw: String = "01.09.01") -> [UInt8] {
    Array(
      #"{"id":"\#(id)","type":"\#(type)","kpub":"","fw_ver":"\#(fw)","cfg_name":"config-01.09.json","sch_name":"schema-01.09.json","cfg_crc32":"00000000","certs_server_sha1":[]}"#
        .utf8)
  }

  func device(_ s3: S3Client, _ id: String, type: String = "0000001F") throws {
    try Self.seedDevice(s3, id, type: type)
  }

  /// A device folder with its heartbeat, 01.09 config and schema.
  static func seedDevice(_ s3: S3Client, _ id: String, type: String = "0000001F") throws {
    try s3.putObject(key: "\(id)/device.json", body: Self.heartbeat(id, type: type))
    try s3.putObject(key: "\(id)/config-01.09.json", body: try Fixtures.bytes("configs/ce2-01.09-default.json"))
    try s3.putObject(key: "\(id)/schema-01.09.json", body: try Fixtures.bytes("schemas/CANedge2/schema-01.09.json"))
  }

  /// A local file with exactly this name (cp into a folder keeps the name).
  func write(_ bytes: [UInt8], named name: String) throws -> String { try temporaryFile(bytes, named: name) }

  var errorsPath: (MountedBucket) -> String { { $0.file(".edgemount/errors") } }

  @Test func firmwareIsCheckedAgainstTheDeviceAndDeletedByRmWithAllowDelete() throws {
    let s3 = try TestS3.freshBucket("fota")
    try device(s3, "A1B2C3D4")
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { mount.unmount() }
    let target = mount.file("A1B2C3D4/firmware.bin")
    func errors() -> String { (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? "" }

    // Same MAJOR.MINOR, right model: accepted.
    let patch = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 4)
    var r = try Command.run(["cp", try write(patch, named: "firmware.bin"), target])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: "A1B2C3D4/firmware.bin") == patch)
    #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(patch))
    #expect(try Command.run(["rm", target]).status == 0)
    Thread.sleep(forTimeInterval: 1.5)  // the DELETE waits a moment for a save that may replace it (mv)
    #expect(throws: S3Error.self) { try s3.headObject(key: "A1B2C3D4/firmware.bin") }

    // Another model's image: refused, nothing on S3.
    r = try Command.run([
      "cp", try write(FirmwareImage.build(model: .canedge3, major: 1, minor: 9, patch: 4), named: "fw"), target,
    ])
    #expect(r.status != 0 && r.stderr.contains("Invalid argument"), "\(r.stderr)")
    #expect(errors().contains("this image is CANedge3 firmware; the device is a CANedge2"))
    #expect(throws: S3Error.self) { try s3.headObject(key: "A1B2C3D4/firmware.bin") }

    // A MINOR upgrade before its config is on the server: refused; after: accepted.
    let upgrade = FirmwareImage.build(
      model: .canedge2, major: 1, minor: 10, patch: 0, schema: try Fixtures.bytes("schemas/CANedge2/schema-01.09.json"))
    let upgradeFile = try write(upgrade, named: "firmware.bin")
    r = try Command.run(["cp", upgradeFile, target])
    #expect(r.status != 0)
    #expect(errors().contains("upload config-01.10.json first"))
    #expect(throws: S3Error.self) { try s3.headObject(key: "A1B2C3D4/firmware.bin") }
    // Step 1 of the upgrade, through the mount: the config for the new version.
    r = try Command.run(["cp", Fixtures.url("configs/ce2-01.09-default.json").path, mount.file("A1B2C3D4/config-01.10.json")])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(errors().contains("version 01.10 is newer than the device's"))
    r = try Command.run(["cp", upgradeFile, target])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: "A1B2C3D4/firmware.bin") == upgrade)
    // Garbage is not firmware.
    r = try Command.shell("echo not-firmware > \(target)")
    #expect(try s3.getObject(key: "A1B2C3D4/firmware.bin") == upgrade)
  }

  @Test func copyLoopOverAFleetUploadsOnlyToMatchingModels() throws {
    let s3 = try TestS3.freshBucket("fotaloop")
    let ids = (0..<10).map { String(format: "AB%06X", $0) }
    for (i, id) in ids.enumerated() { try device(s3, id, type: i % 2 == 0 ? "0000001F" : "0000005F") }
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 7)
    let file = try write(image, named: "firmware.bin")
    let r = try Command.shell("for d in \(mount.path)/*/; do cp \(file) \"$d\"; done")
    #expect(r.status != 0, "the GNSS devices must refuse")
    #expect(r.stderr.split(separator: "\n").count == 5, "\(r.stderr)")
    for (i, id) in ids.enumerated() {
      let head = try? s3.headObject(key: "\(id)/firmware.bin")
      #expect((head != nil) == (i % 2 == 0), "\(id)")
    }
    let csv = try String(contentsOfFile: mount.file(".edgemount/devices.csv"), encoding: .utf8)
    #expect(csv.split(separator: "\n").filter { $0.contains(",true,false,") }.count >= 5, "\(csv)")
  }

  @Test func certificateBundlesAreCheckedWithOpenSSL() throws {
    let s3 = try TestS3.freshBucket("certs")
    try device(s3, "A1B2C3D4")
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let certs = try TestCertificates()
    defer { certs.remove() }
    let target = mount.file("A1B2C3D4/certs_server.p7b")
    let pem = try certs.validCertificates(2)
    for der in [true, false] {
      let bundle = try certs.bundle(of: pem, der: der, name: "b\(der).p7b")
      let r = try Command.run(["cp", bundle.path, target])
      #expect(r.status == 0, "\(r.stderr)")
      #expect(try s3.getObject(key: "A1B2C3D4/certs_server.p7b") == [UInt8](try Data(contentsOf: bundle)))
    }
    let accepted = try s3.getObject(key: "A1B2C3D4/certs_server.p7b")
    let refused: [(String, URL)] = [
      ("garbage", URL(fileURLWithPath: try write(Array("garbage".utf8), named: "g.p7b"))),
      ("expired", try certs.bundle(of: try certs.expiredCertificate(), der: true, name: "old.p7b")),
      ("eleven", try certs.bundle(of: try certs.validCertificates(11, name: "many"), der: true, name: "many.p7b")),
    ]
    for (what, file) in refused {
      let r = try Command.run(["cp", file.path, target])
      #expect(r.status != 0, "\(what) accepted")
      #expect(try s3.getObject(key: "A1B2C3D4/certs_server.p7b") == accepted, "\(what)")
    }
    // `: > file` truncates and writes nothing: not a save (the shell opens every `> file` that
    // way before the program behind it writes), and the errors file says how to empty it.
    #expect(try Command.shell(": > \(target)").status == 0)
    #expect(try s3.getObject(key: "A1B2C3D4/certs_server.p7b") == accepted)
    let errors = (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? ""
    #expect(errors.contains("certs_server.p7b: opened with truncation and closed with nothing written"), "\(errors)")
    // Emptying the bundle is an explicit truncation.
    let r = try Command.run(["truncate", "-s", "0", target])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: "A1B2C3D4/certs_server.p7b") == [])
  }

  /// Back to an older firmware, config first: the image staged locally as
  /// firmware-MM.mm.pp.bin lends its schema to the older config, then firmware.bin goes up.
  @Test func aDowngradeStagesTheImageChecksTheOlderConfigAgainstItThenUpdates() throws {
    let s3 = try TestS3.freshBucket("downgrade")
    try device(s3, "A1B2C3D4")
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    func errors() -> String { (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? "" }
    let older = FirmwareImage.build(
      model: .canedge2, major: 1, minor: 8, patch: 0, schema: try Fixtures.bytes("schemas/CANedge2/schema-01.08.json"))
    let config0108 = Fixtures.url("configs/ce2-01.08-default.json").path
    // Without the image the device has no schema for 01.08: refused, with the way to do it.
    var r = try Command.run(["cp", config0108, mount.file("A1B2C3D4/config-01.08.json")])
    #expect(r.status != 0)
    #expect(errors().contains("firmware-01.08.pp.bin"), "\(errors())")
    #expect(try Command.run(["cp", try write(older, named: "firmware.bin"), mount.file("A1B2C3D4/firmware.bin")]).status != 0)
    #expect(errors().contains("upload config-01.08.json first"))
    // Staged: never uploaded, and the older config is checked against its schema.
    let staged = mount.file("A1B2C3D4/firmware-01.08.00.bin")
    r = try Command.run(["cp", try write(older, named: "fw-old"), staged])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(throws: S3Error.self) { try s3.headObject(key: "A1B2C3D4/firmware-01.08.00.bin") }
    let bad = try Fixtures.bytes("configs/ce2-01.08-default.json").replacing("\"split_size\": 50", "\"split_size\": 9999")
    r = try Command.run(["cp", try write(bad, named: "bad.json"), mount.file("A1B2C3D4/config-01.08.json")])
    #expect(r.status != 0, "an invalid 01.08 config was accepted")
    r = try Command.run(["cp", config0108, mount.file("A1B2C3D4/config-01.08.json")])
    #expect(r.status == 0, "\(r.stderr) \(errors())")
    #expect(try s3.getObject(key: "A1B2C3D4/config-01.08.json") == (try Fixtures.bytes("configs/ce2-01.08-default.json")))
    // Then the firmware itself: its config is on the server and valid against its schema.
    r = try Command.run(["cp", try write(older, named: "firmware.bin"), mount.file("A1B2C3D4/firmware.bin")])
    #expect(r.status == 0, "\(r.stderr) \(errors())")
    #expect(try s3.getObject(key: "A1B2C3D4/firmware.bin") == older)
  }

  @Test func theSimulatedDeviceInstallsFirmwareAndLoadsCertificates() throws {
    let s3 = try TestS3.freshBucket("simfota")
    let id = "5E1A7E02"
    let sim = try startSimulatedDevice(bucket: s3.bucket, device: id)
    defer { sim.stop() }
    try waitUntil("the device uploads its heartbeat") { (try? s3.headObject(key: "\(id)/device.json")) != nil }
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--heartbeat-ttl", "1", "--list-ttl", "1"])
    defer { mount.unmount() }
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 8)
    #expect(try Command.run(["cp", try write(image, named: "firmware.bin"), mount.file("\(id)/firmware.bin")]).status == 0)
    try waitUntil("the device reports the new firmware") { try xattr(mount.file(id), "user.canedge.fw_ver") == "01.09.08" }
    #expect(sim.output.contains("installed firmware 01.09.08"))

    let certs = try TestCertificates()
    defer { certs.remove() }
    let pem = try certs.validCertificates(2)
    let bundle = try certs.bundle(of: pem, der: true, name: "c.p7b")
    #expect(try Command.run(["cp", bundle.path, mount.file("\(id)/certs_server.p7b")]).status == 0)
    do {
      try waitUntil("the device loads the certificates") { try xattr(mount.file(id), "user.canedge.certs_loaded") == "true" }
    } catch {
      Issue.record("device log:\n\(sim.output)\nxattrs: \((try? Command.run(["getfattr", "-d", mount.file(id)]).stdout) ?? "")")
      throw error
    }
    let listed = try xattr(mount.file(id), "user.canedge.certs")
    for sha1 in try certs.sha1s(of: pem) { #expect(listed.contains(sha1)) }
  }
}
