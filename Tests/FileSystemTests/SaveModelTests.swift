import CANedge
import DemoFleet
import Foundation
import Glibc
import Locking
import Logging
import S3
import TestSupport
import Testing
import Validation

@testable import FileSystem

/// The save path checked against a reference model: seeded random sequences of opens (read,
/// write, read-write, O_TRUNC, O_CREAT|O_EXCL), writes, truncations, fsyncs, dups, closes,
/// renames onto the config, unlinks, writes by another client straight to the server, writes
/// that arrive during a commit, closes by a process that inherited a descriptor and wrote
/// nothing, and injected faults, run through the filesystem core on the in-memory S3. After
/// every step:
/// - a close/fsync that returned 0 on a descriptor with unsaved writes means the server holds
///   exactly that descriptor's content;
/// - a refusal returned an errno and left the server byte-identical (or holding what another
///   client wrote meanwhile);
/// - no successful write is lost without a later close/fsync returning an error;
/// - a close by a process that wrote nothing uploads nothing while the writer's writes are
///   unsaved.
@Suite struct SaveModelTests {
  static let device = "A1B2C3D4"
  static let configName = "config-01.09.json"
  static let key = "\(device)/\(configName)"
  static let schema = Array(
    #"{"type":"object","required":["log"],"additionalProperties":false,"properties":{"log":{"type":"object","required":["file"],"properties":{"file":{"type":"object","required":["split_size"],"properties":{"split_size":{"type":"integer","minimum":1,"maximum":512},"split_time_period":{"type":"integer"},"split_time_offset":{"type":"integer"}}}}}}}"#
      .utf8)

  /// A config of the device: `split_size` n (two digits, so every variant has the same length).
  static func variant(_ n: Int) -> [UInt8] {
    Array("{\"log\":{\"file\":{\"split_size\":\(n),\"split_time_period\":0,\"split_time_offset\":0}}}\n".utf8)
  }

  enum OpenMode: CaseIterable {
    case readOnly, writeOnly, readWrite, truncate, createExclusive
  }

  enum Fault {
    /// One 500 on the next PUT (retried).
    case serverErrorOnce
    /// The next PUT lands but its reply is lost (retried: 412, then the HEAD shows our bytes).
    case lostPutReply
    /// Another client writes just before the next PUT.
    case raceOnPut
    /// Every request fails for the next flush (EIO).
    case outage
  }

  indirect enum Op: CustomStringConvertible {
    case open(slot: Int, OpenMode)
    case write(slot: Int, offset: Int, variant: Int, part: Int)  // part 0 whole, 1 first half, 2 second half
    case poke(slot: Int, offset: Int, byte: UInt8)
    case truncate(slot: Int, size: Int)
    case fsync(slot: Int)
    case close(slot: Int)
    /// A child that inherited the descriptor exits (a flush by another lock owner, no release).
    case childClose(slot: Int)
    case dup(slot: Int)
    case read(slot: Int)
    case writeDuringCommit(slot: Int, variant: Int)
    case renameOnto(variant: Int)
    case unlink
    case foreignWrite(variant: Int)
    case fault(Fault)

    var description: String {
      switch self {
      case .open(let s, let m): return "open(h\(s), \(m))"
      case .write(let s, let o, let v, let p): return "write(h\(s), at: \(o), variant \(v), part \(p))"
      case .poke(let s, let o, let b): return "poke(h\(s), at: \(o), 0x\(String(b, radix: 16)))"
      case .truncate(let s, let n): return "ftruncate(h\(s), \(n))"
      case .fsync(let s): return "fsync(h\(s))"
      case .close(let s): return "close(h\(s))"
      case .childClose(let s): return "a child holding h\(s) exits"
      case .dup(let s): return "dup(h\(s))"
      case .read(let s): return "read(h\(s))"
      case .writeDuringCommit(let s, let v): return "fsync(h\(s)) with a write of variant \(v) during the PUT"
      case .renameOnto(let v): return "write tmp (variant \(v)) and rename it onto the config"
      case .unlink: return "unlink(config)"
      case .foreignWrite(let v): return "another client PUTs variant \(v)"
      case .fault(let f): return "fault \(f)"
      }
    }
  }

  /// What the model knows about one open file description.
  struct Handle {
    var fh: UInt64
    var ino: UInt64
    var descriptors = 1
    var writable: Bool
    /// What a read through it must return.
    var view: [UInt8]
    /// Written since the last commit.
    var dirty = false
    /// Written by the writer process (lock owner `writer`) since the last commit.
    var writerWrote = false
    /// Writes since open were only the O_TRUNC.
    var truncatedOnly = false
    /// Another save (or client) changed the server since this handle's base was taken.
    var mayConflict = false
    /// Another file was renamed onto the name while this was open: it can never be saved.
    var orphaned = false
  }

  /// The lock owners of the process that writes and of a child that inherited its descriptors.
  static let writer: UInt64 = 0x5157_0001
  static let child: UInt64 = 0x5157_0002

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Runs one sequence; returns nil when every check held, else what broke.
  /// With `ignoresConditionalPut` the server ignores If-Match on PUT, as rclone's does; the
  /// HEAD before each PUT must then catch every other client's write that lands between
  /// operations. A write in the instant between that HEAD and the PUT (`raceOnPut`) is the
  /// documented remaining race on such a server, so it is not injected there.
  static func run(_ ops: [Op], allowDelete: Bool, ignoresConditionalPut: Bool = false) -> String? {
    let server = InMemoryS3()
    server.ignoresConditionalPut.withLock { $0 = ignoresConditionalPut }
    let client = server.client(bucket: "fleet", retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .nanoseconds(1)))
    let bucket = "fleet"
    server.put(
      bucket, "\(device)/device.json",
      Array(
        #"{"id":"A1B2C3D4","type":"0000001F","fw_ver":"01.09.01","cfg_name":"config-01.09.json","sch_name":"schema-01.09.json"}"#
          .utf8))
    server.put(bucket, "\(device)/schema-01.09.json", schema)
    server.put(bucket, key, variant(50))
    var settings = MountSettings()
    settings.allowDelete = allowDelete
    settings.memoryCacheBytes = 1 << 20
    let clock = ManualClock()
    let fs = FleetFileSystem(
      s3: client, settings: settings, logger: Logger(label: "model") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
    let validator = ConfigValidator()
    func isValid(_ bytes: [UInt8]) -> Bool {
      let schemaValue = try! JSONDocument.parse(schema)
      return
        (try? validator.validate(
          bytes, version: ConfigVersion(major: 1, minor: 9),
          device: .init(knownVersions: [ConfigVersion(major: 1, minor: 9)], schema: schemaValue))) != nil
    }
    func serverBytes() -> [UInt8]? { server.object(bucket, key)?.bytes }

    guard let deviceIno = try? fs.lookup(parent: FleetFileSystem.rootIno, name: device).ino else { return "device not found" }
    var handles: [Int: Handle] = [:]
    var pendingFault: Fault?
    /// A change through another path than a handle: every open handle may now conflict.
    func serverChangedBehind(except slot: Int? = nil) {
      for k in handles.keys where k != slot { handles[k]!.mayConflict = true }
    }

    var foreignWrites = 0
    /// The server holds a version the mount never served (another client's): a save based on
    /// the version the mount last served is refused as a conflict, by the lost-update rule.
    var servedStale = false
    func perform(_ op: Op, _ step: Int) -> String? {
      let before = serverBytes()
      let fault = pendingFault
      pendingFault = nil
      var raced: [UInt8]?
      let raceFired = Locked(false)
      var outage = false
      switch fault {
      case .serverErrorOnce?:
        let fired = Locked(false)
        server.faults.withLock {
          $0 = { method, _ in
            guard method == "PUT" else { return nil }
            return fired.withLock { f in
              defer { f = true }; return f ? nil : .status(500, "InternalError")
            }
          }
        }
      case .lostPutReply?:
        let fired = Locked(false)
        server.faults.withLock {
          $0 = { method, _ in
            guard method == "PUT" else { return nil }
            return fired.withLock { f in
              defer { f = true }; return f ? nil : .lostReply
            }
          }
        }
      case .raceOnPut? where ignoresConditionalPut:
        server.faults.withLock { $0 = nil }
      case .raceOnPut?:
        let bytes = variant(77)
        raced = bytes
        let fired = raceFired
        server.faults.withLock {
          $0 = { method, _ in
            guard method == "PUT" else { return nil }
            return fired.withLock { f in
              defer { f = true }; return f ? nil : .concurrentWrite(bytes)
            }
          }
        }
      case .outage?:
        outage = true
        server.faults.withLock { $0 = { _, _ in .status(503, "SlowDown") } }
      case nil:
        server.faults.withLock { $0 = nil }
      }
      let context = "step \(step) \(op)"

      /// Checks a close/fsync outcome for a handle.
      func checkFlush(_ slot: Int, _ result: Result<Void, FSError>, wroteDuring: [UInt8]? = nil) -> String? {
        guard var h = handles[slot] else { return nil }
        let after = serverBytes()
        let racedNow = raced != nil && after == raced
        switch result {
        case .success:
          if h.dirty && !h.truncatedOnly && h.orphaned {
            return "\(context): a descriptor whose name was replaced by a rename saved its content"
          }
          if h.dirty && !h.truncatedOnly {
            guard after == h.view else {
              return
                "\(context): returned 0 but the server holds \(after.map { String(decoding: $0, as: UTF8.self) } ?? "nothing"), not the descriptor's \(String(decoding: h.view, as: UTF8.self))"
            }
            if !isValid(h.view) { return "\(context): invalid content was accepted" }
            // (A racing write of the bytes the server already held changes nothing: S3's ETag
            // is the same, so no server could tell.)
            if raced != nil && raceFired.withLock({ $0 }) && h.view != raced && before != raced {
              return "\(context): returned 0 over another client's write made just before the PUT (a lost update)"
            }
            h.dirty = false
            if wroteDuring == nil { h.writerWrote = false }
            h.mayConflict = false
            servedStale = false
            serverChangedBehind(except: slot)
          } else if after != before && !racedNow {
            return "\(context): a flush with nothing to save changed the server"
          }
        case .failure(let error):
          guard after == before || racedNow else { return "\(context): refused (\(error)) but the server changed" }
          if error.errno == 0 { return "\(context): refusal without an errno" }
          switch error {
          case .s3: break  // EIO: the content stays for the next try
          case .invalid where !isValid(h.view): break
          case .conflict where h.mayConflict || racedNow || h.orphaned: break
          default:
            if outage { break }
            return "\(context): unexpected refusal \(error) (valid: \(isValid(h.view)), may conflict: \(h.mayConflict))"
          }
          // A refused save keeps its content, unsaved: every later close or fsync checks it
          // again (a conflict stays one: the base does not move).
          if case .conflict = error { h.mayConflict = true }
        }
        if let wroteDuring {
          // The write that came in during the commit is on top of the committed content.
          h.view.write(wroteDuring, at: 0)
          h.dirty = true
        }
        if racedNow {
          foreignWrites += 1
          servedStale = true
          serverChangedBehind()
          h.mayConflict = true
        }
        handles[slot] = h
        return nil
      }

      switch op {
      case .open(let slot, let mode):
        guard handles[slot] == nil else { return nil }
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .writeOnly: flags = O_WRONLY
        case .readWrite: flags = O_RDWR
        case .truncate: flags = O_WRONLY | O_TRUNC
        case .createExclusive: flags = O_WRONLY | O_CREAT | O_EXCL
        }
        do {
          let opened: OpenedFile
          let ino: UInt64
          if mode == .createExclusive {
            let (attrs, o) = try fs.create(parent: deviceIno, name: configName, flags: flags)
            (opened, ino) = (o, attrs.ino)
          } else {
            ino = try fs.lookup(parent: deviceIno, name: configName).ino
            opened = try fs.open(ino: ino, flags: flags)
          }
          let writable = mode != .readOnly
          var h = Handle(fh: opened.handle, ino: ino, writable: writable, view: [], mayConflict: servedStale)
          if mode == .readOnly { servedStale = false }
          if mode == .truncate || mode == .createExclusive {
            h.truncatedOnly = true
            h.dirty = true
          } else {
            h.view = serverBytes() ?? []
          }
          if mode == .createExclusive && before != nil {
            // The mount's listing may not know yet of a file another client just created; the
            // PUT's If-None-Match keeps it safe, and the save is then refused as a conflict.
            guard foreignWrites > 0 else { return "\(context): O_EXCL succeeded over an existing file" }
            h.mayConflict = true
          }
          handles[slot] = h
        } catch {
          if outage { return nil }
          if mode == .createExclusive, error == .exists, before != nil || handles.values.contains(where: { $0.writable }) {
            return nil
          }
          if before == nil, error == .notFound { return nil }
          // The mount's listing may not know yet of a file another client just created.
          if foreignWrites > 0, error == .notFound { return nil }
          return "\(context): open failed: \(error)"
        }
      case .write(let slot, let offset, let v, let part):
        guard var h = handles[slot], h.writable else { return nil }
        var data = variant(v)
        let half = data.count / 2
        var at = offset
        if part == 1 { data = Array(data[..<half]) }
        if part == 2 {
          data = Array(data[half...])
          at = offset + half
        }
        do {
          _ = try fs.write(handle: h.fh, offset: UInt64(at), data: data, owner: writer)
        } catch { return "\(context): write failed: \(error)" }
        h.view.write(data, at: at)
        h.dirty = true
        h.writerWrote = true
        h.truncatedOnly = false
        handles[slot] = h
      case .poke(let slot, let offset, let byte):
        guard var h = handles[slot], h.writable else { return nil }
        do { _ = try fs.write(handle: h.fh, offset: UInt64(offset), data: [byte], owner: writer) } catch {
          return "\(context): write failed: \(error)"
        }
        h.view.write([byte], at: offset)
        h.dirty = true
        h.writerWrote = true
        h.truncatedOnly = false
        handles[slot] = h
      case .truncate(let slot, let size):
        guard var h = handles[slot], h.writable else { return nil }
        do { _ = try fs.setAttributes(ino: h.ino, size: UInt64(size), handle: h.fh) } catch {
          return "\(context): ftruncate failed: \(error)"
        }
        h.view.truncate(to: size)
        h.dirty = true
        h.truncatedOnly = false
        handles[slot] = h
      case .fsync(let slot), .close(let slot):
        guard var h = handles[slot] else { return nil }
        let result: Result<Void, FSError>
        do {
          if case .close = op { try fs.flush(handle: h.fh, owner: writer) } else { try fs.flush(handle: h.fh) }
          result = .success(())
        } catch { result = .failure(error) }
        if let problem = checkFlush(slot, result) { return problem }
        h = handles[slot]!
        if case .close = op {
          h.descriptors -= 1
          if h.descriptors == 0 {
            fs.release(handle: h.fh)
            if case .success = result, h.dirty && !h.truncatedOnly {
              return "\(context): the last close returned 0 with writes the server never got"
            }
            handles[slot] = nil
            return nil
          }
        }
        handles[slot] = h
      case .childClose(let slot):
        guard let h = handles[slot] else { return nil }
        if h.dirty && !h.truncatedOnly && h.writerWrote {
          // The writer's unsaved writes: the child's close must leave them to the writer.
          do { try fs.flush(handle: h.fh, owner: child) } catch {
            return "\(context): a close by a process that wrote nothing failed: \(error)"
          }
          if serverBytes() != before { return "\(context): a close by a process that wrote nothing uploaded" }
        } else {
          // Nothing the writer wrote is unsaved (only truncations, or nothing): an ordinary close.
          let result: Result<Void, FSError>
          do {
            try fs.flush(handle: h.fh, owner: child)
            result = .success(())
          } catch { result = .failure(error) }
          if let problem = checkFlush(slot, result) { return problem }
        }
      case .dup(let slot):
        handles[slot]?.descriptors += 1
      case .read(let slot):
        guard let h = handles[slot] else { return nil }
        let got = (try? fs.read(handle: h.fh, offset: 0, count: 1 << 20).bytes) ?? []
        if got != h.view {
          return "\(context): read \(String(decoding: got, as: UTF8.self)) instead of \(String(decoding: h.view, as: UTF8.self))"
        }
      case .writeDuringCommit(let slot, let v):
        guard let h = handles[slot], h.writable else { return nil }
        let data = variant(v)
        let fh = h.fh
        let done = Locked(false)
        let previous = server.faults.withLock { $0 }
        server.faults.withLock {
          $0 = { method, key in
            if method == "PUT",
              done.withLock({ d in
                defer { d = true }; return !d
              })
            {
              _ = try? fs.write(handle: fh, offset: 0, data: data)
            }
            return previous?(method, key)
          }
        }
        let willCommit = h.dirty && !h.truncatedOnly
        let result: Result<Void, FSError>
        do {
          try fs.flush(handle: fh)
          result = .success(())
        } catch { result = .failure(error) }
        let wrote = done.withLock { $0 }
        if !willCommit, wrote { return "\(context): a PUT without anything to save" }
        if let problem = checkFlush(slot, result, wroteDuring: wrote ? data : nil) { return problem }
      case .renameOnto(let v):
        do {
          let (_, tmp) = try fs.create(parent: deviceIno, name: ".edit.tmp", flags: O_WRONLY | O_CREAT | O_TRUNC)
          _ = try fs.write(handle: tmp.handle, offset: 0, data: variant(v))
          try fs.flush(handle: tmp.handle)
          fs.release(handle: tmp.handle)
        } catch {
          if outage { return nil }
          return "\(context): scratch file failed: \(error)"
        }
        do {
          _ = try? fs.lookup(parent: deviceIno, name: configName)
          try fs.rename(parent: deviceIno, name: ".edit.tmp", newParent: deviceIno, newName: configName, flags: 0)
          if serverBytes() != variant(v) { return "\(context): rename returned 0 but the server does not hold the file" }
          if !isValid(variant(v)) { return "\(context): an invalid file was accepted" }
          servedStale = false
          serverChangedBehind()
          for k in handles.keys { handles[k]!.orphaned = true }
        } catch {
          if serverBytes() != before && !(raced != nil && serverBytes() == raced) {
            return "\(context): refused (\(error)) but the server changed"
          }
          try? fs.unlink(parent: deviceIno, name: ".edit.tmp")
          if let raced, serverBytes() == raced {
            foreignWrites += 1
            servedStale = true
            serverChangedBehind()
          }
          if case .s3 = error { return nil }
          if case .invalid = error, !isValid(variant(v)) { return nil }
          if case .conflict = error { return nil }
          if outage { return nil }
          return "\(context): unexpected refusal \(error)"
        }
      case .unlink:
        do {
          _ = try? fs.lookup(parent: deviceIno, name: configName)  // the kernel looks a name up first
          try fs.unlink(parent: deviceIno, name: configName)
          if !allowDelete { return "\(context): deleted without --allow-delete" }
          clock.advance(by: SaveCoordinator.deleteGrace)  // the DELETE's grace passes
          // (Unless another client created it after the mount's last listing: the mount only
          // drops the name it created itself.)
          // A DELETE that fails after its grace (S3 down) is reported in the errors file.
          let deleteFailed = outage && fs.errors.text.contains("DELETE \(key)")
          if serverBytes() != nil, foreignWrites == 0, !deleteFailed {
            return "\(context): unlink returned 0 and the object is still there"
          }
          servedStale = false
          serverChangedBehind()
        } catch {
          if serverBytes() != before { return "\(context): refused unlink changed the server" }
          if !allowDelete, error.errno == EPERM { return nil }
          if before == nil || outage { return nil }
          if foreignWrites > 0, error == .notFound { return nil }
          if case .s3 = error { return nil }
          return "\(context): unexpected unlink error \(error)"
        }
      case .foreignWrite(let v):
        server.put(bucket, key, variant(v))
        foreignWrites += 1
        servedStale = true
        serverChangedBehind()
      case .fault(let f):
        pendingFault = f
      }
      return nil
    }
    for (step, op) in ops.enumerated() {
      if let problem = perform(op, step) { return problem }
      if ProcessInfo.processInfo.environment["EDGEMOUNT_MODEL_TRACE"] != nil {
        print(
          "after \(op): server \(serverBytes().map { String(decoding: $0, as: UTF8.self) } ?? "-") handles \(handles.mapValues { "\(String(decoding: $0.view, as: UTF8.self)) dirty \($0.dirty) conflict \($0.mayConflict)" })"
        )
      }
    }
    // Every descriptor still open is closed at the end, through the same checks.
    pendingFault = nil
    for slot in handles.keys.sorted() {
      while handles[slot] != nil {
        if let problem = perform(.close(slot: slot), ops.count) { return problem }
      }
    }
    return nil
  }

  static func randomOps(_ rng: inout SplitMix64, count: Int) -> [Op] {
    var ops: [Op] = []
    for _ in 0..<count {
      let slot = Int(rng.next() % 3)
      let v = [10, 20, 50, 60, 99, 0, 77][Int(rng.next() % 7)]  // 0: "split_size":0 is below the schema's minimum
      switch rng.next() % 20 {
      case 0, 1, 2: ops.append(.open(slot: slot, OpenMode.allCases[Int(rng.next() % 5)]))
      case 3, 4, 5:
        ops.append(
          .write(slot: slot, offset: rng.next() % 8 == 0 ? Int(rng.next() % 8) : 0, variant: v, part: Int(rng.next() % 3)))
      case 6: ops.append(.poke(slot: slot, offset: Int(rng.next() % 90), byte: [0x31, 0x2C, 0x7D, 0x20][Int(rng.next() % 4)]))
      case 7: ops.append(.truncate(slot: slot, size: [0, 10, 84, 85, 90][Int(rng.next() % 5)]))
      case 8, 9: ops.append(.fsync(slot: slot))
      case 10, 11, 12: ops.append(.close(slot: slot))
      case 13: ops.append(rng.next() % 3 == 0 ? .childClose(slot: slot) : .dup(slot: slot))
      case 14: ops.append(.read(slot: slot))
      case 15: ops.append(.writeDuringCommit(slot: slot, variant: v))
      case 16: ops.append(.renameOnto(variant: v))
      case 17: ops.append(rng.next() % 2 == 0 ? .unlink : .foreignWrite(variant: v))
      default:
        let faults: [Fault] = [.serverErrorOnce, .lostPutReply, .raceOnPut, .outage]
        ops.append(.fault(faults[Int(rng.next() % 4)]))
      }
    }
    return ops
  }

  /// Removes steps while the sequence still fails, so a failure prints a short sequence.
  static func shrink(_ ops: [Op], allowDelete: Bool, ignoresConditionalPut: Bool = false) -> [Op] {
    var current = ops
    var changed = true
    while changed {
      changed = false
      for i in current.indices.reversed() {
        var candidate = current
        candidate.remove(at: i)
        if run(candidate, allowDelete: allowDelete, ignoresConditionalPut: ignoresConditionalPut) != nil {
          current = candidate
          changed = true
        }
      }
    }
    return current
  }

  @Test func tenThousandRandomSequencesKeepEverySave() {
    let count = Int(ProcessInfo.processInfo.environment["EDGEMOUNT_MODEL_SEQUENCES"] ?? "") ?? 10_000
    runSequences(count: count, ignoresConditionalPut: false)
  }

  @Test func onAServerThatIgnoresConditionalPutTheHeadKeepsEverySave() {
    let count = Int(ProcessInfo.processInfo.environment["EDGEMOUNT_MODEL_SEQUENCES"] ?? "") ?? 2_000
    runSequences(count: count, ignoresConditionalPut: true)
  }

  func runSequences(count: Int, ignoresConditionalPut: Bool) {
    let base = UInt64(ProcessInfo.processInfo.environment["EDGEMOUNT_MODEL_SEED"] ?? "") ?? 20_261_203
    var failures = 0
    for i in 0..<count {
      let seed = base &+ UInt64(i)
      var rng = SplitMix64(seed: seed)
      let ops = Self.randomOps(&rng, count: 6 + Int(rng.next() % 14))
      let allowDelete = rng.next() % 2 == 0
      guard let problem = Self.run(ops, allowDelete: allowDelete, ignoresConditionalPut: ignoresConditionalPut) else {
        continue
      }
      failures += 1
      if failures <= 3 {
        let short = Self.shrink(ops, allowDelete: allowDelete, ignoresConditionalPut: ignoresConditionalPut)
        let again = Self.run(short, allowDelete: allowDelete, ignoresConditionalPut: ignoresConditionalPut) ?? problem
        Issue.record(
          "seed \(seed) (allow-delete: \(allowDelete), server ignores If-Match: \(ignoresConditionalPut)): \(again)\nshrunk sequence:\n  \(short.map(\.description).joined(separator: "\n  "))"
        )
      }
    }
    #expect(failures == 0, "\(failures) of \(count) sequences broke a rule")
  }
}

/// The core tells the kernel when its view of a file changes: each event is checked on the
/// in-memory S3 with a recording hook.
@Suite struct InvalidationTests {
  @Test func commitsRefusalsRelistingsAndUnlinksInvalidateTheFile() throws {
    let server = InMemoryS3()
    let client = server.client(bucket: "fleet")
    server.put("fleet", "A1B2C3D4/device.json", Array(#"{"id":"A1B2C3D4"}"#.utf8))
    server.put("fleet", "A1B2C3D4/schema-01.09.json", SaveModelTests.schema)
    server.put("fleet", SaveModelTests.key, SaveModelTests.variant(50))
    var settings = MountSettings()
    settings.allowDelete = true
    settings.listTTL = .milliseconds(1)
    settings.heartbeatTTL = .milliseconds(1)
    let clock = ManualClock()
    let fs = FleetFileSystem(
      s3: client, settings: settings, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
    let events = Locked<[InvalidationHook.Event]>([])
    fs.invalidations.install { event in events.withLock { $0.append(event) } }
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: SaveModelTests.device).ino
    let config = try fs.lookup(parent: device, name: SaveModelTests.configName).ino
    func taken() -> [InvalidationHook.Event] {
      events.withLock { e in
        defer { e = [] }; return e
      }
    }

    // A commit.
    var h = try fs.open(ino: config, flags: O_WRONLY | O_TRUNC).handle
    _ = try fs.write(handle: h, offset: 0, data: SaveModelTests.variant(60))
    try fs.flush(handle: h)
    #expect(taken().contains(.inode(config)))
    // A refusal: the descriptor keeps its content, other opens see the server's.
    _ = try fs.write(handle: h, offset: 0, data: Array(",".utf8))
    #expect(throws: FSError.self) { try fs.flush(handle: h) }
    #expect(taken().contains(.inode(config)))
    fs.release(handle: h)
    _ = taken()
    // Another client's change, found by the next listing.
    server.put("fleet", SaveModelTests.key, SaveModelTests.variant(70))
    clock.advance(by: .milliseconds(2))
    _ = try fs.listDirectory(ino: device)
    #expect(taken() == [.inode(config)])
    // A listing that finds nothing new says nothing.
    clock.advance(by: .milliseconds(2))
    _ = try fs.listDirectory(ino: device)
    #expect(taken().isEmpty)
    // An unlink.
    try fs.unlink(parent: device, name: SaveModelTests.configName)
    #expect(taken().contains(.inode(config)))
    clock.advance(by: SaveCoordinator.deleteGrace)
    #expect(server.object("fleet", SaveModelTests.key) == nil)
    // A name created for a save that never happened goes with its last close.
    h = try fs.create(parent: device, name: SaveModelTests.configName, flags: O_WRONLY | O_CREAT | O_EXCL).1.handle
    fs.release(handle: h)
    #expect(taken().contains(.entry(parent: device, name: SaveModelTests.configName)))
  }
}
