import Locking
import S3

/// One program's save of a server file (config, firmware, certificates): its own copy of the
/// content, the server version it replaces, and its `SaveLifecycle`. Each open for writing has
/// one (descriptors dup'ed from it share it, as they share the kernel's open file), so what a
/// commit uploads is always exactly one program's content, never a mix of two writers'.
final class SaveView: Sendable {
  struct Content: Sendable {
    var file: FileContent
    /// The version a commit replaces: `ifMatch(etag)`, or `ifNoneMatch` for a new object.
    var base: PutCondition
    var lifecycle: SaveLifecycle
  }

  let ino: UInt64
  private let content: Monitor<Content>

  init(ino: UInt64, bytes: [UInt8], base: PutCondition, truncatedAtOpen: Bool) {
    self.ino = ino
    content = Monitor(
      Content(file: FileContent(bytes), base: base, lifecycle: SaveLifecycle(truncatedAtOpen: truncatedAtOpen)))
  }

  var bytes: [UInt8] { content.withLockNotifying { $0.file.bytes } }
  var size: UInt64 { content.withLockNotifying { UInt64($0.file.bytes.count) } }
  /// Whether a flush by `owner` now would upload (unsaved content that this process wrote).
  func wouldCommit(for owner: UInt64?) -> Bool {
    content.withLockNotifying { $0.lifecycle.isDirty && $0.lifecycle.mayCommit(for: owner) }
  }

  /// A write by lock owner `owner` (0: unknown); one beyond the size limit fails, and so does
  /// every later flush of this save.
  func write(_ data: [UInt8], at offset: UInt64, owner: UInt64 = 0) throws(FSError) {
    try change(owner: owner) { (file: inout FileContent) throws(FSError) in try file.write(data, at: offset) }
  }

  /// An explicit truncation (`ftruncate`): a change like a write, by an owner the kernel does
  /// not name.
  func truncate(to size: UInt64) throws(FSError) {
    try change(owner: 0) { (file: inout FileContent) throws(FSError) in try file.truncate(to: size) }
  }

  private func change(owner: UInt64, _ body: (inout FileContent) throws(FSError) -> Void) throws(FSError) {
    try content.withLockNotifying { (c: inout Content) throws(FSError) in
      do throws(FSError) {
        try body(&c.file)
        c.lifecycle.didWrite(by: owner)
      } catch {
        c.lifecycle.writeFailed(error)
        throw error
      }
    }
  }

  func read(offset: UInt64, count: Int) -> [UInt8] {
    content.withLockNotifying { $0.file.read(offset: offset, count: count) }
  }

  /// A close (by lock owner `owner`) or an fsync (nil). Commits the newest content if the
  /// server does not hold it: `upload` validates and PUTs it and returns the new ETag. A
  /// refusal (invalid, conflict) keeps the content unsaved, and `refused` is told so the
  /// file's other opens show the server's version; after a failure to reach S3 it stays too.
  /// Either way a later close or fsync checks it again.
  func flush(
    owner: UInt64? = nil,
    upload: ([UInt8], PutCondition) throws(FSError) -> String,
    refused: () -> Void
  ) throws(FSError) {
    let (action, bytes, base) = content.withLockWaiting { c -> (SaveLifecycle.FlushAction, [UInt8], PutCondition)? in
      let action = c.lifecycle.flushRequested(by: owner)
      return action == .wait ? nil : (action, c.file.bytes, c.base)
    }
    switch action {
    case .none, .leftToWriter, .wait: return
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
          content.withLockNotifying { $0.lifecycle.commitFailed() }
        } else {
          content.withLockNotifying { $0.lifecycle.commitRefused() }
          refused()
        }
        throw error
      }
    }
  }

  func release() -> SaveLifecycle.ReleaseAction { content.withLockNotifying { $0.lifecycle.released() } }
}
