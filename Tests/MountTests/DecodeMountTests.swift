import CANedge
import Digest
import Foundation
import Glibc
import TestSupport
import Testing

/// `--decode` and `--passwords` through real mounts, read by CSS Electronics' mdf_iter and by
/// asammdf; `edgemount decode` on local files.
@Suite struct DecodeMountTests {
  static let password = "ZHpT8!vq.2"
  static let real = [
    "bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC", "bucket-sample/5BC57FEC/00000001/00000006-643E5292.MFC",
    "bucket-sample/5BC57FEC/00000001/00000007-643E54EA.MFC",
  ]
  static let oracle = Fixtures.directory.path + "/../Support/container_oracle.py"

  struct Frames: Decodable, Equatable {
    var first_measurement_ns: Int64
    var frames: Int
    var first_ns: Int64?
    var last_ns: Int64?
    var asammdf_frames: Int?
  }

  static func frames(_ paths: [String]) throws -> [Frames] {
    let r = try Command.run(["python3", oracle, "frames"] + paths)
    #expect(r.status == 0, "\(r.stderr)")
    return try r.stdout.split(separator: "\n").map { try JSONDecoder().decode(Frames.self, from: Data($0.utf8)) }
  }

  static func encrypt(_ payload: [UInt8]) -> [UInt8] {
    LogContainer.encrypt(
      payload, password: password, deviceID: 0x5BC5_7FEC, iv: (0..<12).map { _ in UInt8.random(in: 0...255) },
      salt: (0..<16).map { _ in UInt8.random(in: 0...255) }, iterations: 10_000)
  }

  func passwordsFile(_ json: String, mode: mode_t = 0o600) throws -> String {
    let path = try freshDirectory("pw") + "/passwords.json"
    FileManager.default.createFile(atPath: path, contents: Data(json.utf8), attributes: [.posixPermissions: Int(mode)])
    return path
  }

  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func theRealMFCLogsReadThroughTheMountAsMdfIterReadsTheOriginals() throws {
    let s3 = try TestS3.freshBucket("decode")
    for path in Self.real {
      try s3.putObject(key: "5BC57FEC/00000001/" + (path as NSString).lastPathComponent, body: try Fixtures.bytes(path))
    }
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--decode"])
    defer { mount.unmount() }
    let session = mount.file("5BC57FEC/00000001")
    let names = try FileManager.default.contentsOfDirectory(atPath: session).sorted()
    #expect(names == ["00000005-643E503A.MF4", "00000006-643E5292.MF4", "00000007-643E54EA.MF4"])
    let originals = try Self.frames(Self.real.map { Fixtures.directory.path + "/" + $0 })
    let through = try Self.frames(names.map { session + "/" + $0 })
    for (original, decoded) in zip(originals, through) {
      #expect(decoded.frames == original.frames && decoded.first_ns == original.first_ns && decoded.last_ns == original.last_ns)
      #expect(decoded.asammdf_frames == original.frames, "asammdf: \(decoded.asammdf_frames ?? -1)")
    }
    #expect(originals.first?.frames == 120_015)
    // ls -l sizes are the decoded ones, and cat gives every byte.
    let inner = try LogContainer.decode(try Fixtures.bytes(Self.real[0]), password: { _ in nil })
    let attributes = try FileManager.default.attributesOfItem(atPath: session + "/" + names[0])
    #expect((attributes[.size] as? NSNumber)?.intValue == inner.count)
    let md5 = try Command.run(["/usr/bin/md5sum", session + "/" + names[0]])
    #expect(md5.stdout.hasPrefix(Digest.hex(Digest.md5(inner))))
    // Dated from the header, in .by-date/ too, under the decoded name.
    let start = try Command.run(["getfattr", "--only-values", "-n", "user.canedge.start_time", session + "/" + names[0]])
    #expect(start.stdout.hasPrefix("2023-04-18T07:59:20.803Z"), "\(start.stdout)")
    #expect(FileManager.default.fileExists(atPath: mount.file(".by-date/2023-04-18/5BC57FEC/00000001/" + names[0])))
  }

  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func encryptedLogsReadWithThePasswordAndGiveEIOWithAWrongOne() throws {
    let s3 = try TestS3.freshBucket("decodeenc")
    let mfc = try Fixtures.bytes(Self.real[1])
    let inner = try LogContainer.decode(mfc, password: { _ in nil })
    let mfe = Self.encrypt(inner)
    let mfm = Self.encrypt(mfc)
    // The independent decoder agrees with the encoder before the files are used.
    let dir = try freshDirectory("enc")
    for (name, bytes) in [("a.MFE", mfe), ("a.MFM", mfm)] {
      try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
      let r = try Command.run(["python3", Self.oracle, "decode", dir + "/" + name, dir + "/" + name + ".mf4", Self.password])
      #expect(r.status == 0, "\(r.stderr)")
      #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name + ".mf4"))) == inner)
    }
    try s3.putObject(key: "5BC57FEC/00000002/00000001-643E5292.MFE", body: mfe)
    try s3.putObject(key: "5BC57FEC/00000002/00000002-643E5300.MFM", body: mfm)
    let good = try passwordsFile(#"{"5BC57FEC": "\#(Self.password)"}"#)
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--decode", "--passwords", good])
    defer { mount.unmount() }
    for name in ["00000001-643E5292.MF4", "00000002-643E5300.MF4"] {
      let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: mount.file("5BC57FEC/00000002/" + name))))
      #expect(bytes == inner, "\(name) differs from the MF4 inside")
    }
    let frames = try Self.frames([mount.file("5BC57FEC/00000002/00000001-643E5292.MF4")])
    #expect(frames.first?.asammdf_frames == frames.first?.frames && (frames.first?.frames ?? 0) > 0)
    // A wrong password: EIO and the reason, never bytes.
    let wrong = try passwordsFile(#"{"default": "not it"}"#)
    let other = try MountedBucket(bucket: s3.bucket, options: ["-o", "decode,passwords=\(wrong)"])
    defer { other.unmount() }
    for name in ["00000001-643E5292.MF4", "00000002-643E5300.MF4"] {
      let r = try Command.run(["cat", other.file("5BC57FEC/00000002/" + name)])
      #expect(r.status != 0 && r.stderr.contains("Input/output error") && r.stdout.isEmpty, "\(name): \(r.stderr)")
    }
    let errors = (try? String(contentsOfFile: other.file(".edgemount/errors"), encoding: .utf8)) ?? ""
    #expect(errors.contains("the GCM tag does not match"), "\(errors)")
    #expect(!errors.contains(Self.password) && !errors.contains("not it"))
    // Without a password: shown as stored, dated by upload, and the reason in header_error.
    let none = try MountedBucket(bucket: s3.bucket, options: ["--decode"])
    defer { none.unmount() }
    let stored = none.file("5BC57FEC/00000002/00000001-643E5292.MFE")
    #expect(try Data(contentsOf: URL(fileURLWithPath: stored)) == Data(mfe))
    let reason = try Command.run(["getfattr", "--only-values", "-n", "user.canedge.header_error", stored])
    #expect(reason.stdout.contains("--passwords"), "\(reason.stdout)")
  }

  @Test func aPasswordsFileOthersCanReadIsRefusedAtMount() throws {
    let s3 = try TestS3.freshBucket("decodepw")
    let open = try passwordsFile(#"{"default": "x"}"#, mode: 0o644)
    #expect(throws: MountedBucket.MountFailed.self) { _ = try MountedBucket(bucket: s3.bucket, options: ["--passwords", open]) }
    let r = try Command.run([
      MountedBucket.edgemount, s3.bucket, try freshDirectory("mnt"), "--endpoint", try TestS3.endpointURL, "--passwords", open,
    ])
    #expect(r.status != 0 && r.stderr.contains("chmod 600"), "\(r.stderr)")
  }

  // SEMANTICS.md § Compressed and encrypted logs (`.MFC`, `.MFE`, `.MFM`)
  @Test func decodeWritesTheMF4InsideALocalFile() throws {
    let dir = try freshDirectory("decodecli")
    let mfc = try Fixtures.bytes(Self.real[2])
    let inner = try LogContainer.decode(mfc, password: { _ in nil })
    try Data(mfc).write(to: URL(fileURLWithPath: dir + "/x.MFC"))
    var r = try Command.run([MountedBucket.edgemount, "decode", dir + "/x.MFC"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/x.MF4"))) == inner)
    // Never over an existing file unless -o names it.
    r = try Command.run([MountedBucket.edgemount, "decode", dir + "/x.MFC"])
    #expect(r.status == 1 && r.stderr.contains("exists"))
    try Data(Self.encrypt(inner)).write(to: URL(fileURLWithPath: dir + "/y.MFE"))
    r = try Command.run([MountedBucket.edgemount, "decode", dir + "/y.MFE", "-o", dir + "/y.mf4"])
    #expect(r.status == 1 && r.stderr.contains("--passwords"), "\(r.stderr)")
    let pw = try passwordsFile(#"{"5BC57FEC": "\#(Self.password)"}"#)
    r = try Command.run([MountedBucket.edgemount, "decode", dir + "/y.MFE", "-o", dir + "/y.mf4", "--passwords", pw])
    #expect(r.status == 0, "\(r.stderr)")
    #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/y.mf4"))) == inner)
    let wrong = try passwordsFile(#"{"default": "no"}"#)
    r = try Command.run([MountedBucket.edgemount, "decode", dir + "/y.MFE", "-o", dir + "/z.mf4", "--passwords", wrong])
    #expect(r.status == 1 && r.stderr.contains("GCM tag") && !FileManager.default.fileExists(atPath: dir + "/z.mf4"))
  }
}
