import CANedge
import Foundation
import Locking
import Logging
import S3

/// Saves of the files users change in a device folder. It owns the local content (scratch
/// files: an editor's swap or backup copy, a staged firmware image; and the latest save of each
/// server file, whose size `stat` shows while it is open), carries out the flushes that
/// `SaveView`s ask for (validate, then one conditional PUT), and sends the DELETEs that wait
/// out their grace. A save's lifecycle is a pure state machine (`SaveLifecycle`): `SaveView`
/// answers a flush with a step, and this type does the I/O and reports back.
final class SaveCoordinator: CorePart, Sendable {
  struct State: Sendable {
    /// Scratch files' content by inode.
    var scratch: [UInt64: ScratchFile] = [:]
    /// The save that wrote last, by inode: its size is what `stat` shows while it is open.
    var latestSave: [UInt64: SaveView] = [:]
    /// Who unlinked each file whose DELETE is waiting.
    var deleters: [UInt64: Editor] = [:]
  }

  let tree: FleetTree
  let facts: DeviceFacts
  let journal: ChangeJournal
  let context: CoreContext
  private let state = Locked(State())

  /// How long the DELETE of an unlinked server file waits for a save of the same name.
  static let deleteGrace: Duration = .seconds(1)

  init(tree: FleetTree, facts: DeviceFacts, journal: ChangeJournal, context: CoreContext) {
    self.tree = tree
    self.facts = facts
    self.journal = journal
    self.context = context
  }

  // MARK: Local content

  func scratch(_ ino: UInt64) -> ScratchFile? { state.withLock { $0.scratch[ino] } }
  func hasScratch(_ ino: UInt64) -> Bool { state.withLock { $0.scratch[ino] != nil } }
  func setScratch(_ ino: UInt64, _ file: ScratchFile?) { state.withLock { $0.scratch[ino] = file } }
  func latestSave(_ ino: UInt64) -> SaveView? { state.withLock { $0.latestSave[ino] } }
  func wrote(_ view: SaveView) { state.withLock { $0.latestSave[view.ino] = view } }

  /// `view` is no longer the one `stat` shows (closed, or refused): the server's size is.
  func forget(_ view: SaveView) {
    state.withLock { s in
      if s.latestSave[view.ino] === view { s.latestSave[view.ino] = nil }
    }
  }

  /// The size of what is written locally for `ino` (a scratch file, the latest save), if any.
  func localSize(_ ino: UInt64) -> UInt64? {
    let local: (scratch: ScratchFile?, save: SaveView?) = state.withLock { ($0.scratch[ino], $0.latestSave[ino]) }
    return local.scratch?.size ?? local.save?.size
  }

  // MARK: Flushes

  /// A close by lock owner `owner` (nil: an fsync) of `view`: uploads its content if the
  /// server does not hold it. A refusal (invalid, conflict) keeps the content unsaved and the
  /// file's other opens show the server's version again; after a failure to reach S3 it stays
  /// too. Either way a later close or fsync checks it again.
  /// `editor` is the `edited-by` of the upload.
  func flush(_ view: SaveView, owner: UInt64?, editor: Editor) throws(FSError) {
    let generation: Int
    let bytes: [UInt8]
    let base: PutCondition
    switch view.beginFlush(owner: owner) {
    case .done: return
    case .fail(let error): throw error
    case .upload(let g, let b, let c): (generation, bytes, base) = (g, b, c)
    }
    do throws(FSError) {
      let node = try tree.node(view.ino)
      guard case .serverFile = FleetFileSystem.writeTarget(name: node.name, existing: node) else {
        throw .accessDenied("\(node.name) is no longer a server file")
      }
      guard tree.isCurrent(node) else {
        // Another file was renamed onto this name while it was open (POSIX: this descriptor
        // now holds an unlinked file); its content must not replace the new file.
        let error = FSError.conflict("\(node.name) was replaced by a rename while open; this descriptor's changes are not saved")
        reportRefusal(view.ino, error, editor: editor)
        throw error
      }
      let etag = try commit(node, bytes: bytes, base: base, editor: editor)
      view.committed(generation: generation, etag: etag)
    } catch {
      view.commitEnded()
      if case .s3 = error {
      } else {
        // Other opens and stat show the server's version again; this descriptor keeps its own.
        forget(view)
        invalidations.fire(.inode(view.ino))
      }
      throw error
    }
  }

  /// A refusal that happens outside a commit (a write past the size limit, a dying writer).
  func reportRefusal(_ ino: UInt64, _ error: FSError, editor: Editor) {
    guard let node = tree.existingNode(ino) else { return }
    reportRejection(device: tree.existingNode(node.parent)?.name ?? "?", file: node.name, error, editor: editor)
  }

  // MARK: Deletes that wait

  /// Unlinks a server file: the name goes now, and its DELETE follows after `deleteGrace`
  /// unless a save of the same name (mv or install from another filesystem) takes its place.
  func deleteAfterGrace(_ ino: UInt64, editor: Editor) {
    state.withLock { $0.deleters[ino] = editor }
    tree.hideForDelete(ino)
    clock.schedule(after: Self.deleteGrace) { [weak self] in self?.finishPendingDelete(ino) }
  }

  /// Sends a waiting DELETE, unless a save of the name took its place.
  func finishPendingDelete(_ ino: UInt64) {
    let editor = state.withLock { $0.deleters.removeValue(forKey: ino) } ?? .unknown
    guard let node = tree.takeDueDelete(ino) else { return }
    do {
      let result = try s3.deleteObject(key: node.key, metadata: journal.metadata(editor))
      logger.info("deleted \(node.key) on the server")
      // The version the mount served is gone by its own hand: a new file of the name (even one
      // another client puts there) is no one's lost update.
      tree.update(ino) { n in
        n.onServer = false
        n.servedETag = nil
      }
      if let device = tree.existingNode(node.parent) {
        journal.recordChange(
          .delete, deviceKey: device.key, device: device.name, file: node.name, versionID: result.versionID, size: nil,
          editor: editor)
      }
    } catch {
      let line = "DELETE \(node.key): \(error) (the file is still on the server)"
      errors.append(line)
      logger.error("\(line)")
      tree.update(ino) { $0.present = true }
    }
  }

  /// Sends every waiting DELETE now (at unmount).
  func finishPendingDeletes() {
    for ino in tree.pendingDeletes { finishPendingDelete(ino) }
  }
}
