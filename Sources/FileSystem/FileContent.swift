/// The bytes of a file held locally (a save being written, a scratch file), bounded by the
/// largest device-root file the mount stages. Writes and truncations as a local file takes
/// them: a write past the end fills the gap with zeros.
struct FileContent: Sendable {
  /// The largest device-root file the mount stages.
  static let maximumSize = 64 << 20

  private(set) var bytes: [UInt8]

  init(_ bytes: [UInt8] = []) { self.bytes = bytes }

  static func tooLarge(_ size: UInt64) -> FSError {
    .tooLarge("\(size) bytes is more than a device root file may hold (64 MiB at most)")
  }

  mutating func write(_ data: [UInt8], at offset: UInt64) throws(FSError) {
    let (end, overflow) = offset.addingReportingOverflow(UInt64(data.count))
    guard !overflow, end <= UInt64(Self.maximumSize) else { throw Self.tooLarge(overflow ? .max : end) }
    let start = Int(offset)
    if bytes.count < Int(end) { bytes += [UInt8](repeating: 0, count: Int(end) - bytes.count) }
    bytes.replaceSubrange(start..<Int(end), with: data)
  }

  mutating func truncate(to size: UInt64) throws(FSError) {
    guard size <= UInt64(Self.maximumSize) else { throw Self.tooLarge(size) }
    if bytes.count > Int(size) {
      bytes.removeSubrange(Int(size)...)
    } else {
      bytes += [UInt8](repeating: 0, count: Int(size) - bytes.count)
    }
  }

  mutating func replace(with new: [UInt8]) { bytes = new }

  func read(offset: UInt64, count: Int) -> [UInt8] {
    guard offset < UInt64(bytes.count) else { return [] }
    return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
  }
}
