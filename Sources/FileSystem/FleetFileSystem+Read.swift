import CANedge
import Cache
import Glibc
import Locking
import S3

/// How the kernel should treat an open file.
public struct OpenedFile: Sendable, Equatable {
  public var handle: UInt64
  /// Bypass the page cache (content whose size may differ from the listed size, edits being saved).
  public var directIO: Bool
  /// Keep cached pages from earlier opens (immutable log files).
  public var keepCache: Bool
}

extension FleetFileSystem {
  /// Opens a file. Reading needs no more than the listing; writing is allowed on the files a
  /// user may change (configs, scratch files) and stages the content locally.
  /// `editor`: the calling process's user and program, for a save's `edited-by`.
  public func open(ino: UInt64, flags: Int32, editor: Editor = .unknown) throws(FSError) -> OpenedFile {
    let node = try node(ino)
    if node.kind.isDirectory { throw .isDirectory }
    let wantsWrite = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
    if wantsWrite { return try openForWriting(node, truncate: flags & O_TRUNC != 0, editor: editor) }
    if let scratch = saves.scratch(ino) {
      return register(OpenFile(ino: ino, source: .scratch(scratch)), directIO: true, keepCache: false)
    }
    switch node.kind {
    case .object(.log) where decoded?.isDecoded(node) == true:
      // --decode: the MF4 inside, decoded whole (EIO with the reason if it cannot be).
      let bytes = try decoded!.content(of: node)
      return register(OpenFile(ino: ino, source: .snapshot(bytes)), directIO: false, keepCache: true)
    case .object(.log), .object(.other), .object(.storedConfig):
      if node.kind == .object(.log) { prefetchFollowingFiles(after: node) }
      return register(
        OpenFile(ino: ino, source: .object(key: node.key, etag: node.etag, size: node.size)), directIO: false,
        keepCache: node.kind == .object(.log))
    case .object(.deviceFile):
      guard node.onServer else {
        // Created here and not saved yet: what the save being written holds so far.
        let local = saves.latestSave(ino)?.bytes ?? []
        return register(OpenFile(ino: ino, source: .snapshot(local)), directIO: true, keepCache: false)
      }
      // Small files that change (heartbeat, config): fetch the current version whole, or take
      // the copy a walk's open of the folder's previous device file fetched ahead.
      // The others are sent first, so their GETs and this one's go together.
      let ahead = fetcher.isFar ? deviceFilesAhead.take(ino, listedETag: node.etag) : nil
      fetchDeviceFilesAhead(besides: node)
      let (bytes, etag): ([UInt8], String)
      if let ahead { (bytes, etag) = (ahead.bytes, ahead.etag) } else { (bytes, etag) = try fetchWhole(node) }
      if case .object(.deviceFile(.config)) = node.kind { facts.noteConfig(key: node.key, etag: etag, bytes: bytes) }
      tree.update(ino) { n in
        n.size = UInt64(bytes.count)
        n.servedETag = etag
        if !etag.isEmpty { n.etag = etag }
      }
      // Direct I/O: the kernel may still hold an older size for a file that just changed, and
      // would cut the new content at it.
      return register(OpenFile(ino: ino, source: .snapshot(bytes)), directIO: true, keepCache: false)
    case .statusFile(let file):
      return register(OpenFile(ino: ino, source: .snapshot(Array(statusText(file).utf8))), directIO: true, keepCache: false)
    case .object(.version):
      // One GET with versionId, checked against the listed ETag and size; then from memory.
      return register(OpenFile(ino: ino, source: .snapshot(try history.content(node))), directIO: false, keepCache: true)
    case .object(.scratch):
      throw .notFound  // a scratch file always has its content; this one was removed
    case .root, .device, .session, .statusDirectory, .rawDirectory, .byDate, .history:
      throw .isDirectory
    }
  }

  /// `cp -r` and `rsync` open a session's files one after another in name order. When a log
  /// file is opened right after its predecessor, the next files are fetched ahead: on loopback
  /// the first two blocks of the next four, on a link with a long round trip as many whole files
  /// as its read-ahead holds (`ReadAhead`), so no file waits for its own first GET. Far away, the
  /// first log of a session also fetches the logs after it, A/4 bytes of them, before a walk
  /// can show.
  private func prefetchFollowingFiles(after node: Node) {
    let ahead = fetcher.aheadBytes()
    let perFile = fetcher.readAhead.bytesPerFile(bytes: ahead)
    let far = ahead > ReadAhead.floor
    let files = far ? ReadAhead.maxFiles : ReadAhead.nearFiles
    let (following, guessed) = tree.logsAfterOpening(node, limit: files, guess: far)
    // A guess (no walk seen yet) spends what one file may, in whole files after this one.
    // Far away, the file just opened is read ahead from the same share: what is fetched and
    // not read yet, of this file and the next ones, stays within the read-ahead, the memory
    // cache's share for it. (Beyond it, the blocks fetched ahead evicted one another before
    // they were read, and were fetched again.) Close by, the next files' first blocks as ever.
    let opened = far ? Int(min(node.size, UInt64(ahead))) : 0
    var budget = min(guessed ? perFile : ahead, ahead - opened)
    if far, !guessed, !following.isEmpty {
      // A walk reads each file whole: far away, the opened file's rest is fetched now, not as
      // its reader's window grows, so the reader does not wait a round trip into each file.
      let blocks = (opened + BlockID.size - 1) / BlockID.size
      fetcher.prefetch((0..<blocks).map { BlockID(key: node.key, etag: node.etag, index: $0) }, objectSize: node.size)
    }
    for file in following where decoded?.isDecoded(file) != true {
      guard budget > 0 else { break }
      guard file.size > 0 else { continue }
      // Far away a walk's next files are fetched whole, within the budget: a next file fetched
      // only in part had its reader wait a round trip in its middle. Close by, the first
      // blocks of the next four files.
      let cap = far && !guessed ? budget : perFile
      let bytes = min(Int(min(file.size, UInt64(Int.max))), cap, budget)
      budget -= bytes
      let blocks = (bytes + BlockID.size - 1) / BlockID.size
      fetcher.prefetch((0..<blocks).map { BlockID(key: file.key, etag: file.etag, index: $0) }, objectSize: file.size)
    }
  }

  /// Far from S3, opening a device file fetches the folder's other small device files at once
  /// (`DeviceFilesAhead`): a copy of the device opens them one after another, a round trip each.
  private func fetchDeviceFilesAhead(besides node: Node) {
    guard fetcher.isFar else { return }
    let files = tree.deviceFiles(
      besides: node, maxBytes: DeviceFilesAhead.maxBytes, limit: DeviceFilesAhead.maxFiles)
    for file in files {
      guard let flight = deviceFilesAhead.begin(file.ino) else { continue }
      let sentAt = clock.instant()
      let submitted = fetcher.submitListing { [s3, deviceFilesAhead] in
        let object = try? s3.getWholeObject(key: file.key)
        deviceFilesAhead.finish(
          file.ino, flight, object.map { DeviceFilesAhead.Copy(bytes: $0.bytes, etag: $0.etag, sentAt: sentAt) })
      }
      if !submitted { deviceFilesAhead.finish(file.ino, flight, nil) }
    }
  }

  /// The whole current object and its ETag.
  func fetchWhole(_ node: Node) throws(FSError) -> ([UInt8], String) {
    do {
      let object = try s3.getWholeObject(key: node.key)
      return (object.bytes, object.etag)
    } catch {
      errors.append("GET \(node.key): \(error)")
      throw FSError(error)
    }
  }

  func register(_ file: OpenFile, directIO: Bool, keepCache: Bool) -> OpenedFile {
    OpenedFile(handle: handles.open(file), directIO: directIO, keepCache: keepCache)
  }

  public func read(handle: UInt64, offset: UInt64, count: Int) throws(FSError) -> ReadBytes {
    guard let file = handles.file(handle) else { throw .badHandle }
    do {
      return try file.read(offset: offset, count: count, fetcher: fetcher)
    } catch {
      if case .object(let key, _, _) = file.source {
        errors.append("read \(key) at \(offset): \(error)")
        if case .s3(let s3Error) = error, s3Error.isPreconditionFailed {
          // The object changed under us: never mix versions; the next listing shows the new one.
          if let parent = tree.existingNode(file.ino)?.parent { tree.forgetListing(parent) }
        }
      }
      throw error
    }
  }

  /// Closes a handle. A save is committed at flush; release only ends it, and reports a save
  /// that never reached the server (a shell's `> file` with nothing written after it).
  public func release(handle: UInt64) {
    guard let (file, remaining) = handles.close(handle), case .save(let view) = file.source else { return }
    let action = view.release()
    let node = try? node(file.ino)
    let name = node.map { n in (try? self.node(n.parent)).map { "\($0.name)/\(n.name)" } ?? n.name } ?? "?"
    switch action {
    case .none: break
    case .reportTruncatedOnly:
      let line =
        "\(name): opened with truncation and closed with nothing written: not uploaded, the server keeps its version (to empty a file on purpose: truncate -s 0 FILE)"
      errors.append(line)
      logger.warning("\(line)")
    case .reportDropped:
      let line = "\(name): closed with changes the server never took (the last save failed): they are dropped"
      errors.append(line)
      logger.warning("\(line)")
    }
    saves.forget(view)
    // A name created for a save that never reached the server goes with its last handle.
    var vanished = false
    if remaining <= 0, !saves.hasScratch(file.ino) {
      tree.update(file.ino) { n in
        guard !n.onServer, n.present else { return }
        n.present = false
        vanished = true
      }
    }
    if let node {
      invalidations.fire(.inode(node.ino))
      if vanished { invalidations.fire(.entry(parent: node.parent, name: node.name)) }
    }
  }
}
