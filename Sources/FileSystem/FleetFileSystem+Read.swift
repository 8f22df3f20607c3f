import CANedge
import Cache
import Glibc
import S3

/// How the kernel should treat an open file.
public struct OpenedFile: Sendable, Equatable {
  public var handle: UInt64
  /// Bypass the page cache (content whose size may differ from the listed size, staged edits).
  public var directIO: Bool
  /// Keep cached pages from earlier opens (immutable log files).
  public var keepCache: Bool
}

extension FleetFileSystem {
  func node(_ ino: UInt64) throws(FSError) -> Node {
    try state.withLock { (s: inout State) throws(FSError) -> Node in
      guard let node = s.table[ino] else { throw .notFound }
      return node
    }
  }

  /// Opens a file. Reading needs no more than the listing; writing is allowed on the files a
  /// user may change (configs, scratch files) and stages the content locally.
  public func open(ino: UInt64, flags: Int32) throws(FSError) -> OpenedFile {
    let node = try node(ino)
    if node.kind.isDirectory { throw .isDirectory }
    let wantsWrite = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
    if wantsWrite { return try openForWriting(node, truncate: flags & O_TRUNC != 0) }
    if let staged = state.withLock({ $0.scratch[ino] }) {
      return register(OpenFile(ino: ino, source: .staged(staged)), directIO: true, keepCache: false)
    }
    switch node.kind {
    case .object(.log), .object(.other), .object(.storedConfig):
      if node.kind == .object(.log) { prefetchFollowingFiles(after: node) }
      return register(
        OpenFile(ino: ino, source: .object(key: node.key, etag: node.etag, size: node.size)), directIO: false,
        keepCache: node.kind == .object(.log))
    case .object(.deviceFile):
      guard node.onServer else {
        // Created here and not saved yet: what the save being written holds so far.
        let local = state.withLock { $0.latestSave[ino] }?.bytes ?? []
        return register(OpenFile(ino: ino, source: .snapshot(local)), directIO: true, keepCache: false)
      }
      // Small files that change (heartbeat, config): fetch the current version whole.
      let (bytes, etag) = try fetchWhole(node)
      if case .object(.deviceFile(.config)) = node.kind { noteConfig(key: node.key, etag: etag, bytes: bytes) }
      state.withLock { s in
        s.table[ino]?.size = UInt64(bytes.count)
        s.table[ino]?.servedETag = etag
        if !etag.isEmpty { s.table[ino]?.etag = etag }
      }
      // Direct I/O: the kernel may still hold an older size for a file that just changed, and
      // would cut the new content at it.
      return register(OpenFile(ino: ino, source: .snapshot(bytes)), directIO: true, keepCache: false)
    case .statusFile(let file):
      return register(OpenFile(ino: ino, source: .snapshot(Array(statusText(file).utf8))), directIO: true, keepCache: false)
    case .object(.scratch):
      throw .notFound  // a scratch file always has staged content; this one was removed
    case .root, .device, .session, .statusDirectory, .rawDirectory, .byDate:
      throw .isDirectory
    }
  }

  /// `cp -r` and `rsync` open a session's files one after another in name order. When a log
  /// file is opened right after its predecessor, the first blocks of the next few are fetched
  /// ahead, so each small file does not wait for its own first GET.
  private func prefetchFollowingFiles(after node: Node) {
    let next: [Node] = state.withLock { s in
      defer { s.lastOpened[node.parent] = node.ino }
      guard let previous = s.lastOpened[node.parent] else { return [] }
      let order = folderOrder(&s, node.parent)
      guard order.isRightBefore(previous, node.ino) else { return [] }
      return order.following(node.ino, limit: Self.filesReadAhead).compactMap { s.table[$0] }
    }
    for file in next where file.size > 0 {
      let blocks = Int((file.size - 1) / UInt64(BlockID.size)) + 1
      let ids = (0..<min(blocks, Self.blocksReadAheadPerFile)).map { BlockID(key: file.key, etag: file.etag, index: $0) }
      fetcher.prefetch(ids, objectSize: file.size)
    }
  }

  /// Four files, two blocks each: a walk of 1 MiB logs never waits for a GET, and a walk that
  /// only reads each file's header (an MF4 indexer) wastes at most 8 MiB of prefetch.
  static let filesReadAhead = 4
  static let blocksReadAheadPerFile = 2

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
    let handle = state.withLock { s in
      let h = s.nextHandle
      s.nextHandle += 1
      s.handles[h] = file
      s.openHandles[file.ino, default: 0] += 1
      return h
    }
    return OpenedFile(handle: handle, directIO: directIO, keepCache: keepCache)
  }

  public func read(handle: UInt64, offset: UInt64, count: Int) throws(FSError) -> ReadBytes {
    guard let file = state.withLock({ $0.handles[handle] }) else { throw .badHandle }
    do {
      return try file.read(offset: offset, count: count, fetcher: fetcher)
    } catch {
      if case .object(let key, _, _) = file.source {
        errors.append("read \(key) at \(offset): \(error)")
        if case .s3(let s3Error) = error, s3Error.isPreconditionFailed {
          // The object changed under us: never mix versions; the next listing shows the new one.
          state.withLock { s in s.table[file.ino].map { s.listedAt[$0.parent] = nil } }
        }
      }
      throw error
    }
  }

  /// Closes a handle. A save is committed at flush; release only ends it, and reports a save
  /// that never reached the server (a shell's `> file` with nothing written after it).
  public func release(handle: UInt64) {
    let (file, remaining) = state.withLock { s -> (OpenFile?, Int) in
      guard let file = s.handles.removeValue(forKey: handle) else { return (nil, 0) }
      let remaining = (s.openHandles[file.ino] ?? 1) - 1
      s.openHandles[file.ino] = remaining > 0 ? remaining : nil
      return (file, remaining)
    }
    guard let file, case .save(let view) = file.source else { return }
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
    let vanished = state.withLock { s -> Bool in
      if s.latestSave[file.ino] === view { s.latestSave[file.ino] = nil }
      // A name created for a save that never reached the server goes with its last handle.
      guard remaining <= 0, let n = s.table[file.ino], !n.onServer, n.present, s.scratch[file.ino] == nil else { return false }
      s.table[file.ino]?.present = false
      return true
    }
    if let node {
      invalidations.fire(.inode(node.ino))
      if vanished { invalidations.fire(.entry(parent: node.parent, name: node.name)) }
    }
  }
}
