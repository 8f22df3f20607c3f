import CANedge
import Foundation
import S3
import TestSupport
import Testing

/// A child that inherited a device file's descriptor (a background job in a redirected shell
/// group, a helper spawned without close-on-exec) and exits while the writer is still writing.
/// Its exit closes the descriptor, and the kernel flushes: that close must not upload what the
/// writer has written so far, and no refusal it hears may make the writer's own close report
/// success for content the server never took.
@Suite(.serialized) struct InheritedDescriptorTests {
  static let device = "A1B2C3D4"

  func puts(_ mount: MountedBucket) throws -> Int { try mount.counters()["requests_put"] ?? 0 }
  func errors(_ mount: MountedBucket) -> String {
    (try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? ""
  }

  @Test func aBackgroundJobInARedirectedGroupDoesNotSaveHalfAConfig() throws {
    let s3 = try TestS3.freshBucket("inherit")
    let original = try seedCANedge2Device(s3, id: Self.device)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file("\(Self.device)/config-01.09.json")
    let edited = original.replacing("\"split_size\": 50", "\"split_size\": 60")
    let half = edited.count / 2
    let first = String(decoding: edited[..<half], as: UTF8.self)
    let second = String(decoding: edited[half...], as: UTF8.self)
    let before = try puts(mount)
    // `sleep` inherits the group's stdout (the config) and exits between the two halves.
    let r = try Command.run([
      "bash", "-c", #"{ printf '%s' "$1"; sleep 0.3 & wait; printf '%s' "$2"; } > "$3""#, "bash", first, second, config,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: "\(Self.device)/config-01.09.json") == edited, "\(errors(mount))")
    #expect(try puts(mount) - before == 1, "the child's exit uploaded: \(errors(mount))")
    #expect(!errors(mount).contains("rejected"), "\(errors(mount))")
  }

  @Test func aChildExitingMidwayDoesNotSendHalfAFirmwareImage() throws {
    let s3 = try TestS3.freshBucket("inheritfw")
    try FirmwareAndCertificateTests.seedDevice(s3, Self.device)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let image = FirmwareImage.build(model: .canedge2, major: 1, minor: 9, patch: 4)
    let source = try temporaryFile(image, named: "firmware.bin")
    let target = mount.file("\(Self.device)/firmware.bin")
    // Half the image (its header alone passes the firmware check), then a child that holds
    // the descriptor exits, then the rest.
    let script = """
      import os, subprocess, sys, time
      data = open(sys.argv[1], 'rb').read()
      fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
      os.write(fd, data[:len(data) // 2])
      subprocess.run(['true'], pass_fds=(fd,), check=True)
      time.sleep(0.3)
      os.write(fd, data[len(data) // 2:])
      os.close(fd)
      """
    let before = try puts(mount)
    let r = try Command.run(["python3", "-c", script, source, target])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try s3.getObject(key: "\(Self.device)/firmware.bin") == image, "\(errors(mount))")
    #expect(try puts(mount) - before == 1, "the child's exit uploaded half the image: \(errors(mount))")
  }

  @Test func aRefusalHeardByAChildIsStillTheWritersAnswer() throws {
    let s3 = try TestS3.freshBucket("inheritbusy")
    let original = try seedCANedge2Device(s3, id: Self.device)
    let key = "\(Self.device)/config-01.09.json"
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let config = mount.file(key)
    let mine = original.replacing("\"split_size\": 50", "\"split_size\": 60")
    let theirs = original.replacing("\"split_size\": 50", "\"split_size\": 70")
    // Without O_CLOEXEC: the child below inherits it.
    let fd = open(config, O_WRONLY | O_TRUNC)
    #expect(fd >= 0)
    #expect(mine.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == mine.count)
    // Another client saves meanwhile; then a child holding this descriptor (an fsync it makes
    // hears the conflict) exits.
    try s3.putObject(key: key, body: theirs)
    let child = try Command.run([
      "python3", "-c", "import os, sys\ntry: os.fsync(int(sys.argv[1]))\nexcept OSError as e: print(e.errno)", String(fd),
    ])
    #expect(child.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(EBUSY), "\(child.stdout) \(child.stderr)")
    // The writer's close: refused again, never a silent 0.
    let closed = close(fd)
    let closeErrno = errno
    #expect(closed == -1 && closeErrno == EBUSY, "close returned \(closed) (errno \(closeErrno))")
    #expect(try s3.getObject(key: key) == theirs)
  }
}
