import Locking
import S3

/// Content held locally: a staged save of a server file, or a scratch file (editor swap file,
/// temp file, backup) that is never uploaded.
final class StagedFile: Sendable {
  struct Content: Sendable {
    var bytes: [UInt8]
    var lifecycle = SaveLifecycle()
  }

  private let content: Locked<Content>
  /// The version a save replaces: `ifMatch(etag)` for an existing object, `ifNoneMatch` for a new one.
  let base: PutCondition

  init(bytes: [UInt8], base: PutCondition) {
    content = Locked(Content(bytes: bytes))
    self.base = base
  }

  var bytes: [UInt8] { content.withLock { $0.bytes } }
  var size: UInt64 { content.withLock { UInt64($0.bytes.count) } }
  var isDirty: Bool { content.withLock { $0.lifecycle.state == .dirty } }

  func write(_ data: [UInt8], at offset: UInt64) throws(FSError) {
    guard offset <= 64 << 20, data.count <= 64 << 20 else {
      throw .invalid("file too large for a device root file (64 MiB at most)")
    }
    content.withLock { c in
      let start = Int(offset)
      if c.bytes.count < start + data.count { c.bytes += [UInt8](repeating: 0, count: start + data.count - c.bytes.count) }
      c.bytes.replaceSubrange(start..<start + data.count, with: data)
      c.lifecycle.didWrite()
    }
  }

  func truncate(to size: UInt64) throws(FSError) {
    guard size <= 64 << 20 else { throw .invalid("file too large for a device root file (64 MiB at most)") }
    content.withLock { c in
      if c.bytes.count > Int(size) {
        c.bytes.removeSubrange(Int(size)...)
      } else {
        c.bytes += [UInt8](repeating: 0, count: Int(size) - c.bytes.count)
      }
      c.lifecycle.didWrite()
    }
  }

  func read(offset: UInt64, count: Int) -> [UInt8] {
    content.withLock { c in
      guard offset < UInt64(c.bytes.count) else { return [] }
      return Array(c.bytes[Int(offset)..<min(c.bytes.count, Int(offset) + count)])
    }
  }

  /// Starts a commit if one is due; returns the action and the bytes to commit.
  func beginFlush() -> (SaveLifecycle.FlushAction, [UInt8]) {
    content.withLock { c in (c.lifecycle.flushRequested(), c.bytes) }
  }

  func endFlush() { content.withLock { $0.lifecycle.commitFinished() } }
}
