import CANedge
import Foundation
import S3
import TestSupport
import Testing

/// End to end with the device simulator: a config saved through the mount is picked up by
/// the device, and the mount reports it as synced.
@Suite(.serialized) struct DeviceSyncTests {
  @Test func aSavedConfigIsAppliedByTheDeviceAndShowsAsSynced() throws {
    let s3 = try TestS3.freshBucket("sync")
    let device = "5E1A7E01"
    let sim = try startSimulatedDevice(bucket: s3.bucket, device: device)
    defer { sim.stop() }
    try waitUntil("the device uploads its heartbeat") { (try? s3.headObject(key: "\(device)/device.json")) != nil }
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--heartbeat-ttl", "1", "--list-ttl", "1"])
    defer { mount.unmount() }
    let config = mount.file("\(device)/config-01.09.json")
    // The device uploaded its own default config and runs it.
    try waitUntil("the device reports its default config") {
      try xattr(mount.file(device), "user.canedge.config_synced") == "true"
    }

    let r = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 64/", config])
    #expect(r.status == 0, "\(r.stderr)")
    let saved = try s3.getObject(key: "\(device)/config-01.09.json")
    let crc = CRC32.hex(saved)
    try waitUntil("device.json reports the new config's CRC-32") {
      let heartbeat = String(decoding: try s3.getObject(key: "\(device)/device.json"), as: UTF8.self)
      return heartbeat.contains("\"cfg_crc32\": \"\(crc)\"")
    }
    try waitUntil("the mount shows the device as synced") {
      try xattr(mount.file(device), "user.canedge.config_synced") == "true"
    }
    let heartbeat = try String(contentsOfFile: mount.file("\(device)/device.json"), encoding: .utf8)
    #expect(heartbeat.contains(crc))
    let csv = try String(contentsOfFile: mount.file(".edgemount/devices.csv"), encoding: .utf8)
    #expect(csv.contains("\(device),CANedge2,01.09.01,"), "\(csv)")
    #expect(csv.split(separator: "\n").first { $0.hasPrefix(device) }?.contains(",true,false,false,") == true, "\(csv)")
    #expect(sim.output.contains("applied new config, CRC-32 \(crc)"))
  }

  // SEMANTICS.md § Extended attributes (`getfattr -d`)
  @Test func xattrsShowUploadMetadataAndKeys() throws {
    let s3 = try TestS3.freshBucket("xattr")
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let etag = try s3.putObject(
      key: key, body: [1, 2, 3],
      metadata: ["hw": "00.02", "fw": "01.09.01", "net": "plant-wifi", "timestamp": "20200101T000000Z", "put-index": "17"])
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let r = try Command.run(["getfattr", "-d", mount.file(key)])
    #expect(r.status == 0, "\(r.stderr)")
    for line in [
      "user.canedge.hw=\"00.02\"", "user.canedge.fw=\"01.09.01\"", "user.canedge.net=\"plant-wifi\"",
      "user.canedge.timestamp=\"20200101T000000Z\"",
      "user.canedge.put_index=\"17\"", "user.s3.etag=\"\(etag)\"", "user.s3.key=\"\(key)\"",
    ] {
      #expect(r.stdout.contains(line), "\(line) missing in \(r.stdout)")
    }
    let before = try mount.counters()["requests_head"]!
    _ = try Command.run(["getfattr", "-d", mount.file(key)])
    #expect(try mount.counters()["requests_head"]! == before, "metadata HEAD is cached")
  }

  @Test func lsLongAsksForSecurityAndAclAttributesOncePerMountNotPerFile() throws {
    let s3 = try TestS3.freshBucket("xattr-probe")
    for session in 1...3 {
      for split in 1...5 {
        try s3.putObject(key: String(format: "A1B2C3D4/%08d/%08d-5E0BE100.MF4", session, split), body: [1])
      }
    }
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let trace = try freshDirectory("xattr-probe") + "/strace"
    let r = try Command.run(["strace", "-f", "-o", trace, "-e", "trace=getxattr,lgetxattr", "ls", "-lR", mount.path])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("00000005-5E0BE100.MF4"))
    let calls = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").filter { $0.contains("xattr(") }
    // One security.selinux and one posix_acl probe, answered "not supported", then ls stops asking.
    #expect(calls.count <= 3, "\(calls.joined(separator: "\n"))")
    #expect(calls.allSatisfy { $0.contains("EOPNOTSUPP") }, "\(calls.joined(separator: "\n"))")
    // The mount's own attributes still answer, and an absent user.* attribute is "no data".
    #expect(try xattr(mount.file("A1B2C3D4"), "user.canedge.config_synced") == "unknown")
    let absent = try Command.run(["getfattr", "-n", "user.other", mount.file("A1B2C3D4")])
    #expect(absent.stderr.contains("No such attribute"), "\(absent.stderr)")
  }
}
