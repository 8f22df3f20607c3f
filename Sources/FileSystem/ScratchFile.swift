import Locking

/// The content of a scratch file: a file in a device folder that is never uploaded (an
/// editor's swap, temp or backup file). Shared by all its open handles, as on a local disk,
/// and kept until it is removed or the mount ends.
final class ScratchFile: Sendable {
  private let content: Locked<FileContent>

  init(bytes: [UInt8]) { content = Locked(FileContent(bytes)) }

  var bytes: [UInt8] { content.withLock { $0.bytes } }
  var size: UInt64 { content.withLock { UInt64($0.bytes.count) } }

  func write(_ data: [UInt8], at offset: UInt64) throws(FSError) {
    try content.withLock { (c: inout FileContent) throws(FSError) in try c.write(data, at: offset) }
  }

  func truncate(to size: UInt64) throws(FSError) {
    try content.withLock { (c: inout FileContent) throws(FSError) in try c.truncate(to: size) }
  }

  func read(offset: UInt64, count: Int) -> [UInt8] { content.withLock { $0.read(offset: offset, count: count) } }
}
