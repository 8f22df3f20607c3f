import DemoFleet
import Foundation
import Glibc
import S3
import TestSupport
import Testing

/// The save model of `SaveModelTests`, through a real kernel mount on the S3 server: seeded
/// sequences of opens (O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC, O_CREAT|O_EXCL), writes,
/// ftruncates, fsyncs, dups, closes, renames onto the config, other clients' PUTs and child
/// processes that inherit the descriptors and exit, made with the system calls programs make.
/// Each sequence runs in a device folder of its own. After every step: a close/fsync that
/// returned 0 with unsaved writes means the server holds exactly that descriptor's content; a
/// refusal left the server as it was and leaves the content unsaved; a child's exit uploads
/// nothing this process wrote.
@Suite(.serialized) struct SaveModelMountTests {
  static let schema = Array(
    #"{"type":"object","required":["log"],"properties":{"log":{"type":"object","required":["file"],"properties":{"file":{"type":"object","required":["split_size"],"properties":{"split_size":{"type":"integer","minimum":1,"maximum":512}}}}}}}"#
      .utf8)

  static func variant(_ n: Int) -> [UInt8] { Array("{\"log\":{\"file\":{\"split_size\":\(n)}}}\n".utf8) }
  static func isValid(_ bytes: [UInt8]) -> Bool {
    (10...99).contains { bytes == variant($0) }
  }

  struct Handle {
    var fds: [Int32]
    var writable: Bool
    var view: [UInt8]
    var dirty = false
    /// Written (not only truncated) by this process since the last save.
    var wrote = false
    var truncatedOnly = false
    var mayConflict: Bool
  }

  enum Op {
    case open(Int, Int32)
    case write(Int, Int)
    case truncate(Int, Int)
    case fsync(Int)
    case close(Int)
    case dup(Int)
    case rename(Int)
    case foreign(Int)
    /// A child process (inheriting every descriptor, as posix_spawn does) runs and exits.
    case spawn
  }

  static func randomOps(_ rng: inout SplitMix64) -> [Op] {
    let modes: [Int32] = [O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_TRUNC, O_RDWR | O_TRUNC]
    return (0..<(5 + Int(rng.next() % 8))).map { _ in
      let slot = Int(rng.next() % 2)
      let v = [11, 22, 50, 0, 77][Int(rng.next() % 5)]
      switch rng.next() % 13 {
      case 0, 1: return .open(slot, modes[Int(rng.next() % 5)])
      case 2, 3, 4: return .write(slot, v)
      case 5: return .truncate(slot, [0, 5, 30][Int(rng.next() % 3)])
      case 6: return .fsync(slot)
      case 7, 8: return .close(slot)
      case 9: return .dup(slot)
      case 10: return .rename(v)
      case 11: return .foreign(v)
      default: return .spawn
      }
    }
  }

  @Test func randomSequencesThroughTheKernelKeepEverySave() throws {
    let s3 = try TestS3.freshBucket("modelmount")
    let count = Int(ProcessInfo.processInfo.environment["EDGEMOUNT_MOUNT_MODEL_SEQUENCES"] ?? "") ?? 300
    let devices = (0..<count).map { String(format: "D%07X", $0) }
    DispatchQueue.concurrentPerform(iterations: count) { i in
      let d = devices[i]
      try? s3.putObject(
        key: "\(d)/device.json",
        body: Array(#"{"id":"\#(d)","cfg_name":"config-01.09.json","sch_name":"schema-01.09.json"}"#.utf8))
      try? s3.putObject(key: "\(d)/schema-01.09.json", body: Self.schema)
      try? s3.putObject(key: "\(d)/config-01.09.json", body: Self.variant(50))
    }
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    var failures: [String] = []
    for (i, device) in devices.enumerated() {
      var rng = SplitMix64(seed: 90_000 + UInt64(i))
      let ops = Self.randomOps(&rng)
      if let problem = try run(ops, device: device, mount: mount, s3: s3) {
        failures.append("sequence \(i) (seed \(90_000 + i)): \(problem)")
      }
    }
    #expect(failures.isEmpty, "\(failures.count) of \(count) broke a rule:\n\(failures.prefix(5).joined(separator: "\n"))")
  }

  func run(_ ops: [Op], device: String, mount: MountedBucket, s3: S3Client) throws -> String? {
    let key = "\(device)/config-01.09.json"
    let path = mount.file(key)
    func server() -> [UInt8]? { try? s3.getObject(key: key) }
    /// What the server and the mount say, for a failure message: a rare failure must explain itself.
    func evidence(expected: [UInt8], requestsBefore: [String: Int]) -> String {
      let now: String
      do { now = String(decoding: try s3.getObject(key: key), as: UTF8.self) } catch { now = "GET failed: \(error)" }
      let requests = (try? mount.counters()) ?? [:]
      let delta = ["requests_head", "requests_put", "requests_get", "requests_precondition_failed", "requests_failed"]
        .map { "\($0) +\((requests[$0] ?? 0) - (requestsBefore[$0] ?? 0))" }.joined(separator: ", ")
      let errors = ((try? String(contentsOfFile: mount.file(".edgemount/errors"), encoding: .utf8)) ?? "")
        .split(separator: "\n").filter { $0.contains(device) }.suffix(6).joined(separator: " | ")
      return "(expected \(String(decoding: expected, as: UTF8.self).debugDescription), server now \(now.debugDescription); "
        + "during the call: \(delta); errors: \(errors))"
    }
    var handles: [Int: Handle] = [:]
    var servedStale = false
    var trace: [String] = []
    defer { for h in handles.values { for fd in h.fds { Glibc.close(fd) } } }

    func flush(_ slot: Int, closing: Bool) -> String? {
      guard var h = handles[slot], let fd = h.fds.last else { return nil }
      let before = server()
      let requestsBefore = (try? mount.counters()) ?? [:]
      let rc = closing ? Glibc.close(fd) : Glibc.fsync(fd)
      let err = errno
      if closing { h.fds.removeLast() }
      let after = server()
      if rc == 0 {
        if h.writable, h.dirty, !h.truncatedOnly {
          guard after == h.view else {
            return "returned 0 but the server lacks the descriptor's content "
              + evidence(expected: h.view, requestsBefore: requestsBefore)
          }
          guard Self.isValid(h.view) else { return "invalid content accepted" }
          h.dirty = false
          h.wrote = false
          h.mayConflict = false
          servedStale = false
          for k in handles.keys where k != slot { handles[k]!.mayConflict = true }
        } else if after != before {
          return "a close with nothing to save changed the server"
        }
      } else {
        guard after == before else { return "refused (errno \(err)) but the server changed" }
        let expected = (err == EINVAL && !Self.isValid(h.view)) || (err == EBUSY && h.mayConflict)
        guard expected else { return "unexpected errno \(err) (valid \(Self.isValid(h.view)), may conflict \(h.mayConflict))" }
        // The content stays, unsaved: a later close or fsync checks it again, and a conflict
        // stays one.
        if err == EBUSY { h.mayConflict = true }
      }
      if h.fds.isEmpty { handles[slot] = nil } else { handles[slot] = h }
      return nil
    }

    for op in ops + [Op](repeating: .close(0), count: 4) + [Op](repeating: .close(1), count: 4) {
      trace.append("\(op)")
      let problem: String?
      switch op {
      case .open(let slot, let flags):
        guard handles[slot] == nil else { continue }
        let fd = Glibc.open(path, flags)
        guard fd >= 0 else { return "open failed: errno \(errno) after \(trace)" }
        let truncating = flags & O_TRUNC != 0
        handles[slot] = Handle(
          fds: [fd], writable: flags & O_ACCMODE != O_RDONLY, view: truncating ? [] : (server() ?? []),
          dirty: truncating, truncatedOnly: truncating, mayConflict: servedStale)
        if flags & O_ACCMODE == O_RDONLY { servedStale = false }
        problem = nil
      case .write(let slot, let v):
        guard var h = handles[slot], h.writable, let fd = h.fds.last else { continue }
        let data = Self.variant(v)
        let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, data.count, 0) }
        guard n == data.count else { return "write failed: errno \(errno) after \(trace)" }
        h.view.write(data, at: 0)
        h.dirty = true
        h.wrote = true
        h.truncatedOnly = false
        handles[slot] = h
        problem = nil
      case .truncate(let slot, let size):
        guard var h = handles[slot], h.writable, let fd = h.fds.last else { continue }
        guard ftruncate(fd, off_t(size)) == 0 else { return "ftruncate failed: errno \(errno) after \(trace)" }
        h.view.truncate(to: size)
        h.dirty = true
        h.truncatedOnly = false
        handles[slot] = h
        problem = nil
      case .fsync(let slot): problem = flush(slot, closing: false)
      case .close(let slot): problem = flush(slot, closing: true)
      case .dup(let slot):
        guard let fd = handles[slot]?.fds.last else { continue }
        handles[slot]!.fds.append(Glibc.dup(fd))
        problem = nil
      case .rename(let v):
        // The editor's way: a temp file in the same folder, renamed onto the config.
        let tmp = mount.file("\(device)/.tmp\(v)")
        FileManager.default.createFile(atPath: tmp, contents: Data(Self.variant(v)))
        let before = server()
        let renamed = Glibc.rename(tmp, path)
        let renameErrno = errno
        if renamed == 0 {
          guard server() == Self.variant(v), Self.isValid(Self.variant(v)) else {
            return "rename returned 0 wrongly after \(trace)"
          }
          servedStale = false
          for k in handles.keys { handles[k]!.mayConflict = true }
          // The name is another file now: open descriptors hold the replaced one.
          for k in handles.keys { handles[k]!.writable = false }
        } else {
          unlink(tmp)
          guard server() == before else { return "a refused rename changed the server after \(trace)" }
          guard renameErrno == EINVAL && !Self.isValid(Self.variant(v)) || renameErrno == EBUSY && servedStale else {
            return "rename refused with errno \(renameErrno) after \(trace)"
          }
        }
        problem = nil
      case .spawn:
        let before = server()
        let child = try Command.run(["true"])
        guard child.status == 0 else { return "the child failed: \(child.stderr)" }
        let after = server()
        if after != before {
          // Only a save that nobody is known to have written (ftruncate names no process) may be
          // committed by the child's close.
          guard
            let slot = handles.keys.first(where: { k in
              let h = handles[k]!
              return h.writable && h.dirty && !h.truncatedOnly && !h.wrote && h.view == after
            }), let after, Self.isValid(after)
          else {
            return
              "a child's exit changed the server to \(after.map { String(decoding: $0, as: UTF8.self) } ?? "nothing") after \(trace)"
          }
          handles[slot]!.dirty = false
          handles[slot]!.mayConflict = false
          servedStale = false
          for k in handles.keys where k != slot { handles[k]!.mayConflict = true }
        }
        problem = nil
      case .foreign(let v):
        try s3.putObject(key: key, body: Self.variant(v))
        servedStale = true
        for k in handles.keys { handles[k]!.mayConflict = true }
        problem = nil
      }
      if let problem { return "\(problem) after \(trace)" }
    }
    return nil
  }
}
