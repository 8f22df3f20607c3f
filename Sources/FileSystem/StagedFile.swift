import Locking

/// The content of a scratch file: a file in a device folder that is never uploaded (an
/// editor's swap, temp or backup file). Shared by all its open handles, as on a local disk,
/// and kept until it is removed or the mount ends.
final class StagedFile: Sendable {
  private let content: Locked<[UInt8]>

  init(bytes: [UInt8]) { content = Locked(bytes) }

  var bytes: [UInt8] { content.withLock { $0 } }
  var size: UInt64 { content.withLock { UInt64($0.count) } }

  func write(_ data: [UInt8], at offset: UInt64) throws(FSError) {
    let end = offset.addingReportingOverflow(UInt64(data.count))
    guard !end.overflow, end.partialValue <= UInt64(SaveView.maximumSize) else {
      throw SaveView.tooLarge(end.overflow ? Int.max : Int(end.partialValue))
    }
    content.withLock { bytes in
      let start = Int(offset)
      if bytes.count < start + data.count { bytes += [UInt8](repeating: 0, count: start + data.count - bytes.count) }
      bytes.replaceSubrange(start..<start + data.count, with: data)
    }
  }

  func truncate(to size: UInt64) throws(FSError) {
    guard size <= UInt64(SaveView.maximumSize) else { throw SaveView.tooLarge(Int(clamping: size)) }
    content.withLock { bytes in
      if bytes.count > Int(size) {
        bytes.removeSubrange(Int(size)...)
      } else {
        bytes += [UInt8](repeating: 0, count: Int(size) - bytes.count)
      }
    }
  }

  func read(offset: UInt64, count: Int) -> [UInt8] {
    content.withLock { bytes in
      guard offset < UInt64(bytes.count) else { return [] }
      return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
    }
  }
}
