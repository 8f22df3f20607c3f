import Locking

/// The handles the kernel holds: open files (with how many are open per inode) and open
/// directories (the entries read at opendir, served by offset to readdir).
final class FileHandles: Sendable {
  struct State: Sendable {
    var files: [UInt64: OpenFile] = [:]
    /// Open handles per inode: a name created for a save goes with its last handle.
    var openPerInode: [UInt64: Int] = [:]
    var directories: [UInt64: [DirectoryEntry]] = [:]
    var next: UInt64 = 1
  }

  private let state = Locked(State())

  func open(_ file: OpenFile) -> UInt64 {
    state.withLock { s in
      let h = s.next
      s.next += 1
      s.files[h] = file
      s.openPerInode[file.ino, default: 0] += 1
      return h
    }
  }

  func file(_ handle: UInt64) -> OpenFile? { state.withLock { $0.files[handle] } }

  /// Removes a file handle; returns its file and how many handles of the inode stay open.
  func close(_ handle: UInt64) -> (file: OpenFile, remaining: Int)? {
    state.withLock { s in
      guard let file = s.files.removeValue(forKey: handle) else { return nil }
      let remaining = (s.openPerInode[file.ino] ?? 1) - 1
      s.openPerInode[file.ino] = remaining > 0 ? remaining : nil
      return (file, remaining)
    }
  }

  func openDirectory(_ entries: [DirectoryEntry]) -> UInt64 {
    state.withLock { s in
      let h = s.next
      s.next += 1
      s.directories[h] = entries
      return h
    }
  }

  func directoryEntries(_ handle: UInt64) -> [DirectoryEntry]? { state.withLock { $0.directories[handle] } }
  func closeDirectory(_ handle: UInt64) { _ = state.withLock { $0.directories.removeValue(forKey: handle) } }

  /// Open files and directories, for `.edgemount/status`.
  var count: (files: Int, directories: Int) { state.withLock { ($0.files.count, $0.directories.count) } }
}
