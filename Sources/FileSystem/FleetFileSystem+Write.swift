import CANedge
import Foundation
import Glibc
import S3

extension FleetFileSystem {
  /// What a name in a device folder may become when written.
  enum WriteTarget: Equatable {
    /// Validated and uploaded on commit.
    case serverFile(DeviceFileKind)
    /// Kept locally, never uploaded.
    case scratch
    /// Not writable (heartbeat, schema, logs, unknown server objects).
    case refused(String)
  }

  static func writeTarget(name: String, existing: Node?) -> WriteTarget {
    if let existing, existing.kind == .object(.scratch) { return .scratch }
    switch DeviceFileKind(name: name) {
    case .config: return .serverFile(DeviceFileKind(name: name))
    case .heartbeat: return .refused("device.json is written by the device")
    case .schema: return .refused("\(name) is written by the device")
    case .firmware, .certificates: return .serverFile(DeviceFileKind(name: name))
    case .other:
      if let existing, existing.present, existing.kind != .object(.scratch) {
        return .refused("\(name) is a server object and read-only")
      }
      return .scratch
    }
  }

  /// The error for a change outside what the mount allows.
  public func refuseChange() -> FSError {
    settings.readOnly ? .readOnly : .accessDenied("this part of the tree is read-only")
  }

  /// The error for a change in folder `parent` that the mount does not allow (mkdir, rmdir):
  /// EROFS with a reason in `.by-date/` and `.history/`, else as `refuseChange()`.
  public func refuseChange(in parent: UInt64) -> FSError {
    readOnlyView(parent) ?? refuseChange()
  }

  /// The error for `mkdir` or `rmdir` of `name` in `parent`: EROFS with a reason for a view's
  /// folder (`DEVICE/.history`) or in one, else as `refuseChange(in:)`.
  public func refuseChange(in parent: UInt64, name: String) -> FSError {
    if let child = tree.child(of: parent, named: name), let refusal = readOnlyView(child.ino) { return refusal }
    return refuseChange(in: parent)
  }

  /// EROFS, with the reason in the log and `.edgemount/errors`, if `ino` is in one of the
  /// read-only views (a folder of `.by-date/` or `.history/`, or a version file).
  func readOnlyView(_ ino: UInt64) -> FSError? {
    switch tree.kind(of: ino) {
    case .byDate?: return tree.existingNode(ino).map { refuse(in: ".by-date", $0, Self.byDateIsReadOnly) }
    case .history?, .object(.version)?:
      return tree.existingNode(ino).map { refuse(in: ".history", $0, Self.historyIsReadOnly) }
    default: return nil
    }
  }

  /// Why nothing can be changed in `.history/`.
  static let historyIsReadOnly = FSError.readOnlyView(
    "the .history view is read-only: to restore a version, copy it over the file (cp DEVICE/.history/NAME/VERSION DEVICE/NAME)")

  /// Why nothing can be changed in `.by-date/`.
  static let byDateIsReadOnly = FSError.readOnlyView(
    "the .by-date view is read-only: change files in their device folders (DEVICE/SESSION/)")

  /// `error` (EROFS) for a change of `node` in the read-only view `view`, with the reason in
  /// the log and `.edgemount/errors`.
  func refuse(in view: String, _ node: Node, _ error: FSError) -> FSError {
    errors.append("\(view)/\(node.name): \(error)")
    logger.notice("refused a change in \(view)/: \(error)")
    return error
  }

  func requireWritable() throws(FSError) {
    if settings.readOnly { throw .readOnly }
  }

  func deviceFolder(_ ino: UInt64) throws(FSError) -> Node {
    let parent = try node(ino)
    guard case .device = parent.kind else {
      if parent.kind.isDirectory { throw .accessDenied("only device folders can hold new files") }
      throw .notDirectory
    }
    return parent
  }

  func openForWriting(_ node: Node, truncate: Bool, editor: Editor) throws(FSError) -> OpenedFile {
    if let refusal = readOnlyView(node.ino) { throw refusal }
    try requireWritable()
    deviceFilesAhead.drop(node.ino)
    switch node.kind {
    case .object(.log), .object(.other), .object(.storedConfig), .statusFile: throw .accessDenied("\(node.name) is read-only")
    default: break
    }
    _ = try deviceFolder(node.parent)  // only device folders hold writable files
    switch Self.writeTarget(name: node.name, existing: node) {
    case .refused(let why): throw .accessDenied(why)
    case .scratch:
      guard let scratch = saves.scratch(node.ino) else { throw .notFound }
      if truncate { try scratch.truncate(to: 0) }
      return register(OpenFile(ino: node.ino, source: .scratch(scratch)), directIO: true, keepCache: false)
    case .serverFile:
      let view = try startSave(node, truncate: truncate, editor: editor)
      return register(OpenFile(ino: node.ino, source: .save(view)), directIO: true, keepCache: false)
    }
  }

  /// A new save of a server file for one open: the server's current content (none when
  /// truncating), replacing the version the mount last served for the file.
  private func startSave(_ node: Node, truncate: Bool, editor: Editor) throws(FSError) -> SaveView {
    let base: PutCondition = node.onServer ? .ifMatch(node.servedETag ?? node.etag) : .ifNoneMatch
    var bytes: [UInt8] = []
    if node.onServer && !truncate {
      let (current, etag) = try fetchWhole(node)
      if case .object(.deviceFile(.config)) = node.kind { facts.noteConfig(key: node.key, etag: etag, bytes: current) }
      bytes = current
      if case .ifMatch(let expected) = base, etag != expected {
        // The editor may hold the text it read earlier: keep that version as the base, so a
        // save over someone else's change is refused instead of silently replacing it.
        errors.append("\(node.key): changed on the server since it was read (now \(etag))")
      }
    }
    return SaveView(ino: node.ino, bytes: bytes, base: base, truncatedAtOpen: truncate, editor: editor)
  }

  /// Creates `name` in a device folder: a config to be uploaded on close, or a scratch file.
  /// `editor` is the calling process's user and program (`edited-by` of the upload).
  public func create(parent: UInt64, name: String, flags: Int32, editor: Editor = .unknown) throws(FSError) -> (
    Attributes, OpenedFile
  ) {
    if let refusal = readOnlyView(parent) { throw refusal }
    try requireWritable()
    guard name.utf8.count <= 255 else { throw .nameTooLong }
    let folder = try deviceFolder(parent)
    try refreshIfStale(parent)
    let existing = tree.child(of: parent, named: name)
    if let existing, existing.present || saves.hasScratch(existing.ino) {
      if flags & O_EXCL != 0 { throw .exists }
      let opened = try openForWriting(existing, truncate: flags & O_TRUNC != 0, editor: editor)
      tree.addLookups(existing.ino, 1)
      return (attributes(of: try node(existing.ino)), opened)
    }
    let now = Int64(clock.now().timeIntervalSince1970)
    switch Self.writeTarget(name: name, existing: existing) {
    case .refused(let why): throw .accessDenied(why)
    case .serverFile(let kind):
      // A save of a name whose DELETE is waiting replaces the object instead (mv, install).
      if let existing { tree.cancelDelete(existing.ino) }
      let ino = tree.withTable { table in
        table.upsert(parent: parent, name: name, kind: .object(.deviceFile(kind)), key: folder.key + name) { n in
          // Visible while open; `onServer` (kept from an earlier listing or rename) decides the base.
          n.present = true
          n.mtime = now
          n.lookups += 1
        }
      }
      let view = try startSave(try node(ino), truncate: true, editor: editor)
      let opened = register(OpenFile(ino: ino, source: .save(view)), directIO: true, keepCache: false)
      return (attributes(of: try node(ino)), opened)
    case .scratch:
      try refuseIfMisnamed(name, in: folder, editor: editor)
      let ino = tree.withTable { table in
        table.upsert(parent: parent, name: name, kind: .object(.scratch), key: "") { n in
          n.present = true
          n.mtime = now
          n.lookups += 1
        }
      }
      let scratch = ScratchFile(bytes: [])
      saves.setScratch(ino, scratch)
      let opened = register(OpenFile(ino: ino, source: .scratch(scratch)), directIO: true, keepCache: false)
      return (attributes(of: try node(ino)), opened)
    }
  }

  /// A write through `handle`; `owner` is the kernel's lock owner of the writing process
  /// (0: unknown), so that only a process that wrote commits at its close.
  public func write(handle: UInt64, offset: UInt64, data: [UInt8], owner: UInt64 = 0) throws(FSError) -> Int {
    guard let file = handles.file(handle) else { throw .badHandle }
    switch file.source {
    case .scratch(let scratch): try scratch.write(data, at: offset)
    case .save(let view):
      do { try view.write(data, at: offset, owner: owner) } catch {
        saves.reportRefusal(file.ino, error, editor: view.editor)
        throw error
      }
      saves.wrote(view)
    default: throw .badHandle
    }
    let now = Int64(clock.now().timeIntervalSince1970)
    tree.update(file.ino) { $0.mtime = now }
    return data.count
  }

  /// A new local file whose name looks like a server file the device never reads is refused,
  /// with the name to use: a copy under it would deploy nothing while the copy succeeds.
  private func refuseIfMisnamed(_ name: String, in folder: Node, editor: Editor) throws(FSError) {
    guard let why = DeviceFileKind.misnamedReason(name) else { return }
    saves.reportRejection(device: folder.name, file: name, .invalid(why), editor: editor)
    throw .invalid(why)
  }

  /// A close (or fsync): commits this handle's save if it holds content the server does not.
  /// The error returned here is what the program's `close`/`fsync` sees.
  ///
  /// `writerFailure` tells why the calling process is dying, if it is closing its files while
  /// killed by a signal (Ctrl-C or kill -9 in the middle of a `cp`) or exiting with a failure
  /// status: what it wrote may be only the beginning of the file, and a firmware image with a
  /// valid header would pass its check, so nothing is uploaded. It is asked only when there is
  /// something to upload (every close of every file flushes).
  ///
  /// `owner` is the closing process's lock owner (nil for an fsync, which always commits): a
  /// close by a process that wrote nothing through the save uploads nothing (see
  /// `SaveLifecycle`).
  ///
  /// `closer` names the closing process's user and program, asked (like `writerFailure`) only
  /// when there is something to upload: the `edited-by` of the upload is the program that
  /// closes (`cat` in `cat > FILE`, where the shell opened the file), else the one that opened.
  public func flush(
    handle: UInt64, owner: UInt64? = nil, writerFailure: () -> String? = { nil }, closer: () -> Editor? = { nil }
  ) throws(FSError) {
    guard let file = handles.file(handle) else { throw .badHandle }
    guard case .save(let view) = file.source else { return }
    guard view.wouldCommit(for: owner) else { return try saves.flush(view, owner: owner, editor: view.editor) }
    let editor = closer() ?? view.editor
    if let writerFailure = writerFailure() {
      let error = FSError.invalid("the program writing it \(writerFailure) before closing it: nothing was uploaded")
      saves.reportRefusal(file.ino, error, editor: editor)
      throw error
    }
    try saves.flush(view, owner: owner, editor: editor)
  }

  /// Changes attributes. Size changes edit local content (a save, a scratch file); mode, owner and time changes on
  /// device-folder files are accepted and have no effect (editors restore them after saving).
  public func setAttributes(ino: UInt64, size: UInt64?, handle: UInt64?) throws(FSError) -> Attributes {
    let node = try node(ino)
    if let refusal = readOnlyView(ino) { throw refusal }
    let inDeviceFolder = (try? deviceFolder(node.parent)) != nil
    guard inDeviceFolder, !node.kind.isDirectory else { throw refuseChange() }
    try requireWritable()
    if let size {
      let file = handle.flatMap { handles.file($0) }
      switch file?.source {
      case .save(let view)?:
        do { try view.truncate(to: size) } catch {
          saves.reportRefusal(ino, error, editor: view.editor)
          throw error
        }
        saves.wrote(view)
      case .scratch(let scratch)?:
        try scratch.truncate(to: size)
      default:
        guard let scratch = saves.scratch(ino) else {
          if case .refused(let why) = Self.writeTarget(name: node.name, existing: node) { throw .accessDenied(why) }
          throw .accessDenied("\(node.name) can only be truncated while open for writing (truncate -s opens it)")
        }
        try scratch.truncate(to: size)
      }
    }
    return attributes(of: try self.node(ino))
  }

  /// Removes a file. A server file (config, firmware, certificates) is deleted on the server
  /// only with `--allow-delete` (the device then uploads its own config, or drops the pending
  /// update); without it the unlink is refused with EPERM and a reason. A scratch file is
  /// dropped; logs and device-written files are refused.
  public func unlink(parent: UInt64, name: String, editor: Editor = .unknown) throws(FSError) {
    let folderNode = try node(parent)
    if folderNode.kind == .session, settings.allowDelete, !settings.readOnly {
      return try deleteLog(in: folderNode, name: name, editor: editor)
    }
    guard case .device = folderNode.kind else { throw refuseChange(in: parent) }
    try requireWritable()
    guard let child = tree.child(of: parent, named: name), child.present || saves.hasScratch(child.ino) else {
      throw .notFound
    }
    if child.kind.isDirectory { throw .isDirectory }
    switch Self.writeTarget(name: name, existing: child) {
    case .refused(let why): throw .accessDenied(why)
    case .scratch:
      tree.update(child.ino) { $0.present = false }
      saves.setScratch(child.ino, nil)
    case .serverFile:
      guard child.onServer else {
        // Created here and never saved: nothing on the server to delete.
        tree.update(child.ino) { $0.present = false }
        return
      }
      guard settings.allowDelete else {
        let line =
          "\(folderNode.name)/\(name): not deleted: deleting server files needs a mount with --allow-delete (to replace a file, write over it: cp NEW \(name))"
        errors.append(line)
        logger.warning("\(line)")
        journal.recordRefusal(
          device: folderNode.name, file: name, reason: "deleting server files needs --allow-delete", editor: editor)
        throw .notPermitted("deleting \(name) on the server needs --allow-delete")
      }
      // The name goes now; the DELETE follows after a moment unless a save of the same name
      // (mv or install from another filesystem) takes its place first.
      saves.deleteAfterGrace(child.ino, editor: editor)
      invalidations.fire(.inode(child.ino))
      invalidations.fire(.entry(parent: parent, name: name))
    }
  }

  /// Sends every waiting DELETE now (at unmount).
  public func finishPendingDeletes() { saves.finishPendingDeletes() }

  /// `rm` of a log file with `--allow-delete`: every stored copy of the split goes (the one
  /// shown and the identical copies folded into it), so the file does not come back.
  private func deleteLog(in session: Node, name: String, editor: Editor) throws(FSError) {
    guard let child = tree.child(of: session.ino, named: name), child.present else { throw .notFound }
    guard child.kind == .object(.log) else { throw .accessDenied("only log files can be deleted") }
    let folded = tree.folds(of: session.ino)?.folded.filter { $0.keeper.name == name }.map { session.key + $0.hidden.name }
    let keys = [child.key] + (folded ?? [])
    let device = tree.existingNode(session.parent)
    for key in keys {
      do {
        let result = try s3.deleteObject(key: key, metadata: journal.metadata(editor))
        journal.recordChange(
          .delete, deviceKey: device?.key ?? "", device: device?.name ?? "?",
          file: String(key.dropFirst(device?.key.count ?? 0)), versionID: result.versionID, size: nil, editor: editor)
      } catch {
        errors.append("DELETE \(key): \(error)")
        throw .s3(error)
      }
    }
    logger.info("deleted \(keys.count) stored cop\(keys.count == 1 ? "y" : "ies") of \(child.key)")
    tree.logDeleted(child.ino, from: session.ino)
  }

  public static let renameNoReplace: UInt32 = 1
  public static let renameExchange: UInt32 = 2

  /// Renames within a device folder. Onto a config name: the content is validated and
  /// uploaded (sed -i, temp file + rename). A server config renamed away stays on the server
  /// and the new name holds a local copy (an editor's backup).
  public func rename(
    parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32, editor: Editor = .unknown
  ) throws(FSError) {
    guard flags & ~Self.renameNoReplace == 0 else { throw .invalid("rename flags \(flags) are not supported") }
    let folder = try node(parent)
    if let refusal = readOnlyView(newParent) ?? readOnlyView(parent) { throw refusal }
    guard case .device = folder.kind else { throw refuseChange(in: parent) }
    try requireWritable()
    guard parent == newParent else { throw .crossDevice }
    guard newName.utf8.count <= 255 else { throw .nameTooLong }
    guard let source = tree.child(of: parent, named: name), source.present || saves.hasScratch(source.ino) else {
      throw .notFound
    }
    if source.kind.isDirectory { throw .accessDenied("sessions cannot be renamed") }
    let target = tree.child(of: parent, named: newName)
    let targetExists = target.map { $0.present || saves.hasScratch($0.ino) } ?? false
    if flags & Self.renameNoReplace != 0, targetExists { throw .exists }
    if name == newName { return }
    if case .refused(let why) = Self.writeTarget(name: name, existing: source) { throw .accessDenied(why) }

    // The content being moved: a scratch file's, or the server file's (its save or the current object).
    let sourceBytes: [UInt8]
    if let scratch = saves.scratch(source.ino) {
      sourceBytes = scratch.bytes
    } else {
      sourceBytes = try fetchWhole(source).0
    }

    switch Self.writeTarget(name: newName, existing: target) {
    case .refused(let why):
      throw .accessDenied(why)
    case .serverFile(let kind):
      // Upload first; only a successful upload changes the tree.
      let base: PutCondition
      if let target, target.onServer {
        base = .ifMatch(target.servedETag ?? target.etag)
      } else {
        base = .ifNoneMatch
      }
      var uploaded = source
      uploaded.name = newName
      uploaded.kind = .object(.deviceFile(kind))
      uploaded.key = folder.key + newName
      if let target { tree.cancelDelete(target.ino) }
      // The commit recorded the new version on the source's node; the move gives it the name.
      try saves.commit(uploaded, bytes: sourceBytes, base: base, editor: editor)
      tree.withTable { $0.move(source.ino, to: newName, kind: uploaded.kind, key: uploaded.key) }
      saves.setScratch(source.ino, nil)
      leaveBehind(source, in: folder)
      invalidations.fire(.inode(source.ino))
      if let target { invalidations.fire(.inode(target.ino)) }
    case .scratch:
      try refuseIfMisnamed(newName, in: folder, editor: editor)
      tree.withTable { $0.move(source.ino, to: newName, kind: .object(.scratch), key: "") }
      saves.setScratch(source.ino, ScratchFile(bytes: sourceBytes))
      leaveBehind(source, in: folder)
      invalidations.fire(.inode(source.ino))
    }
  }

  /// What stays at the old name when a file is renamed away. A server file stays on the
  /// server: a hidden node keeps its name and version, so a new file saved under that name
  /// (the editor's next step) replaces exactly that version.
  private func leaveBehind(_ source: Node, in folder: Node) {
    guard source.kind != .object(.scratch), source.present else { return }
    tree.withTable { table in
      let placeholder = table.reserve(parent: folder.ino, name: source.name, kind: source.kind, key: source.key)
      table[placeholder]?.etag = source.etag
      table[placeholder]?.servedETag = source.servedETag
      table[placeholder]?.size = source.size
      table[placeholder]?.present = false
      table[placeholder]?.onServer = source.onServer
    }
  }
}
