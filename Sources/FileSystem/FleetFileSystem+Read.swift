import CANedge
import Glibc
import S3

/// How the kernel should treat an open file.
public struct OpenedFile: Sendable, Equatable {
  public var handle: UInt64
  /// Bypass the page cache (content whose size may differ from the listed size).
  public var directIO: Bool
  /// Keep cached pages from earlier opens (immutable log files).
  public var keepCache: Bool
}

extension FleetFileSystem {
  /// Opens a file for reading. Any write access fails: `EROFS` on a read-only mount,
  /// `EACCES` otherwise (the write paths are not part of the read-only tree).
  public func open(ino: UInt64, flags: Int32) throws(FSError) -> OpenedFile {
    let node = try state.withLock { (s: inout State) throws(FSError) -> Node in
      guard let node = s.table[ino] else { throw .notFound }
      return node
    }
    if node.kind.isDirectory { throw .isDirectory }
    let wantsWrite = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
    if wantsWrite {
      if settings.readOnly { throw .readOnly }
      throw .accessDenied("\(node.name) is read-only")
    }
    let source: OpenFile.Source
    var directIO = false
    switch node.kind {
    case .object(.log):
      source = .object(key: node.key, etag: node.etag, size: node.size)
    case .object(.other):
      source = .object(key: node.key, etag: node.etag, size: node.size)
    case .object(.deviceFile):
      // Small files that change (heartbeat, config): fetch the current version whole.
      let bytes: [UInt8]
      do {
        bytes = try s3.getObject(key: node.key)
      } catch {
        errors.append("GET \(node.key): \(error)")
        throw FSError(error)
      }
      source = .snapshot(bytes)
      directIO = UInt64(bytes.count) != node.size
      state.withLock { $0.table[ino]?.size = UInt64(bytes.count) }
    case .statusFile(let file):
      source = .snapshot(Array(statusText(file).utf8))
      directIO = true
    case .root, .device, .session, .statusDirectory:
      throw .isDirectory
    }
    let file = OpenFile(ino: ino, source: source)
    let handle = state.withLock { s in
      let h = s.nextHandle
      s.nextHandle += 1
      s.handles[h] = file
      return h
    }
    return OpenedFile(handle: handle, directIO: directIO, keepCache: node.kind == .object(.log))
  }

  public func read(handle: UInt64, offset: UInt64, count: Int) throws(FSError) -> [UInt8] {
    guard let file = state.withLock({ $0.handles[handle] }) else { throw .badHandle }
    return try file.read(offset: offset, count: count) { (range: Range<UInt64>) throws(FSError) -> [UInt8] in
      guard case .object(let key, let etag, _) = file.source else { return [] }
      do {
        return try s3.getObject(key: key, range: range, ifMatch: etag.isEmpty ? nil : etag)
      } catch let error as S3Error {
        errors.append("GET \(key) bytes \(range.lowerBound)-\(range.upperBound - 1): \(error)")
        if error.isPreconditionFailed {
          // The object changed under us: never mix versions; the next listing shows the new one.
          state.withLock { s in s.table[file.ino].map { s.listedAt[$0.parent] = nil } }
          throw .s3(error)
        }
        throw .s3(error)
      } catch {
        throw FSError(error)
      }
    }
  }

  public func release(handle: UInt64) {
    _ = state.withLock { $0.handles.removeValue(forKey: handle) }
  }

  /// Every change to the tree through the mount fails until the write paths exist.
  public func refuseChange(ino: UInt64? = nil) -> FSError {
    settings.readOnly ? .readOnly : .accessDenied("this part of the tree is read-only")
  }
}
