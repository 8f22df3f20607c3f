import Locking

/// A callback the FUSE adapter installs so the core can tell the kernel a file changed.
public final class InvalidationHook: Sendable {
  private let action = Locked<(@Sendable (UInt64) -> Void)?>(nil)

  public func install(_ callback: @escaping @Sendable (UInt64) -> Void) { action.withLock { $0 = callback } }

  func fire(_ ino: UInt64) { action.withLock { $0 }?(ino) }
}
