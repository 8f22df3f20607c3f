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
  /// Who opened it for writing: the `edited-by` of what it uploads.
  let editor: Editor
  private let content: Monitor<Content>

  init(ino: UInt64, bytes: [UInt8], base: PutCondition, truncatedAtOpen: Bool, editor: Editor = .unknown) {
    self.ino = ino
    self.editor = editor
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

  /// What a flush asks of its caller.
  enum FlushStep: Sendable {
    /// Reply success: nothing to upload, or it is left to the writer's own close.
    case done
    /// Reply this error (a write that could not be staged).
    case fail(FSError)
    /// Validate `bytes` and upload them against `base`, then report with `committed` or
    /// `commitEnded`.
    case upload(generation: Int, bytes: [UInt8], base: PutCondition)
  }

  /// A close (by lock owner `owner`) or an fsync (nil): the step to take. A flush that arrives
  /// during another's upload waits for it to end first.
  func beginFlush(owner: UInt64?) -> FlushStep {
    content.withLockWaiting { c -> FlushStep? in
      switch c.lifecycle.flushRequested(by: owner) {
      case .wait: return nil
      case .none, .leftToWriter: return .done
      case .fail(let error): return .fail(error)
      case .commit(let generation): return .upload(generation: generation, bytes: c.file.bytes, base: c.base)
      }
    }
  }

  /// The upload of `generation` landed as `etag`: the next commit replaces that version.
  func committed(generation: Int, etag: String) {
    content.withLockNotifying { c in
      c.lifecycle.commitSucceeded(generation: generation)
      c.base = .ifMatch(etag)
    }
  }

  /// The upload did not land (S3 unreachable, or refused): the content stays unsaved.
  func commitEnded() { content.withLockNotifying { $0.lifecycle.commitEnded() } }

  func release() -> SaveLifecycle.ReleaseAction { content.withLockNotifying { $0.lifecycle.released() } }
}
