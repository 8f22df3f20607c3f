import Glibc

/// Page-aligned memory, as `O_DIRECT` writes need it (address and length both multiples of the
/// alignment). Owned by one writer at a time; freed with the object.
final class AlignedBuffer: @unchecked Sendable {
  static let alignment = 4096
  let pointer: UnsafeMutableRawPointer
  let capacity: Int

  init(capacity: Int) {
    self.capacity = Self.roundedUp(capacity)
    var memory: UnsafeMutableRawPointer?
    guard posix_memalign(&memory, Self.alignment, self.capacity) == 0, let memory else {
      fatalError("posix_memalign of \(self.capacity) bytes failed")
    }
    pointer = memory
  }

  deinit { free(pointer) }

  static func roundedUp(_ count: Int) -> Int { (count + alignment - 1) / alignment * alignment }
}
