import Locking
import S3

/// One program's save of a server file (config, firmware, certificates): its own copy of the
/// content, the server version it replaces, and its `SaveLifecycle`. Each open for writing has
/// one (descriptors dup'ed from it share it, as they share the kernel's open file), so what a
/// commit uploads is always exactly one program's content, never a mix of two writers'.
final class SaveView: Sendable {
  /// The largest device-root file the mount stages.
  static let maximumSize = 64 << 20

  struct Content: Sendable {
    var bytes: [UInt8]
    /// The version a commit replaces: `ifMatch(etag)`, or `ifNoneMatch` for a new object.
    var base: PutCondition
    var lifecycle: SaveLifecycle
  }

  let ino: UInt64
  private let content: Monitor<Content>

  init(ino: UInt64, bytes: [UInt8], base: PutCondition, truncatedAtOpen: Bool) {
    self.ino = ino
    content = Monitor(Content(bytes: bytes, base: base, lifecycle: SaveLifecycle(truncatedAtOpen: truncatedAtOpen)))
  }

  var bytes: [UInt8] { content.withLockNotifying { $0.bytes } }
  var size: UInt64 { content.withLockNotifying { UInt64($0.bytes.count) } }
  var base: PutCondition { content.withLockNotifying { $0.base } }
  var lifecycle: SaveLifecycle { content.withLockNotifying { $0.lifecycle } }

  static func tooLarge(_ size: Int) -> FSError {
    .tooLarge("\(size) bytes is more than a device root file may hold (64 MiB at most)")
  }

  func write(_ data: [UInt8], at offset: UInt64) throws(FSError) {
    let end = offset.addingReportingOverflow(UInt64(data.count))
    try content.withLockNotifying { (c: inout Content) throws(FSError) in
      guard !end.overflow, end.partialValue <= UInt64(Self.maximumSize) else {
        let error = Self.tooLarge(end.overflow ? Int.max : Int(end.partialValue))
        c.lifecycle.writeFailed(error)
        throw error
      }
      let start = Int(offset)
      if c.bytes.count < start + data.count { c.bytes += [UInt8](repeating: 0, count: start + data.count - c.bytes.count) }
      c.bytes.replaceSubrange(start..<start + data.count, with: data)
      c.lifecycle.didWrite()
    }
  }

  /// An explicit truncation (`ftruncate`): a change like a write.
  func truncate(to size: UInt64) throws(FSError) {
    try content.withLockNotifying { (c: inout Content) throws(FSError) in
      guard size <= UInt64(Self.maximumSize) else {
        c.lifecycle.writeFailed(Self.tooLarge(Int(clamping: size)))
        throw Self.tooLarge(Int(clamping: size))
      }
      if c.bytes.count > Int(size) {
        c.bytes.removeSubrange(Int(size)...)
      } else {
        c.bytes += [UInt8](repeating: 0, count: Int(size) - c.bytes.count)
      }
      c.lifecycle.didWrite()
    }
  }

  func read(offset: UInt64, count: Int) -> [UInt8] {
    content.withLockNotifying { c in
      guard offset < UInt64(c.bytes.count) else { return [] }
      return Array(c.bytes[Int(offset)..<min(c.bytes.count, Int(offset) + count)])
    }
  }

  /// A close or fsync. Commits the newest content if the server does not hold it: `upload`
  /// validates and PUTs it and returns the new ETag. After a refusal (invalid, conflict), the
  /// content becomes the server's version (`serverVersion`, nil if it cannot be fetched);
  /// after a failure to reach S3 it stays, so a later close or fsync tries again.
  func flush(
    upload: ([UInt8], PutCondition) throws(FSError) -> String,
    serverVersion: () -> ([UInt8], PutCondition)?
  ) throws(FSError) {
    let (action, bytes, base) = content.withLockWaiting { c -> (SaveLifecycle.FlushAction, [UInt8], PutCondition)? in
      let action = c.lifecycle.flushRequested()
      return action == .wait ? nil : (action, c.bytes, c.base)
    }
    switch action {
    case .none, .wait: return
    case .fail(let error): throw error
    case .commit(let generation):
      do {
        let etag = try upload(bytes, base)
        content.withLockNotifying { c in
          c.lifecycle.commitSucceeded(generation: generation)
          c.base = .ifMatch(etag)
        }
      } catch {
        if case .s3 = error {
          content.withLockNotifying { $0.lifecycle.commitFailed(generation: generation) }
          throw error
        }
        let refusal = content.withLockNotifying { $0.lifecycle.commitRefused(generation: generation) }
        if refusal == .revert, let (server, serverBase) = serverVersion() {
          content.withLockNotifying { c in
            // A write that came in meanwhile stays (and keeps the file dirty).
            guard c.lifecycle.generation == generation else { return }
            c.bytes = server
            c.base = serverBase
            c.lifecycle.reverted()
          }
        }
        throw error
      }
    }
  }

  func release() -> SaveLifecycle.ReleaseAction { content.withLockNotifying { $0.lifecycle.released() } }
}
