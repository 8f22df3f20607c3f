import Locking

/// How the core tells the kernel that what it cached is out of date. The FUSE adapter installs
/// the callback (`fuse_lowlevel_notify_inval_inode` / `_inval_entry`); without a mount it is a
/// no-op, and tests may install a recorder.
public final class InvalidationHook: Sendable {
  /// What changed.
  public enum Event: Sendable, Equatable {
    /// A file's content or attributes: the kernel drops its cached pages and attributes.
    case inode(UInt64)
    /// A name went or now means another file: the kernel drops its cached lookup.
    case entry(parent: UInt64, name: String)
  }

  private let action = Locked<(@Sendable (Event) -> Void)?>(nil)

  public func install(_ callback: (@Sendable (Event) -> Void)?) { action.withLock { $0 = callback } }

  func fire(_ event: Event) { action.withLock { $0 }?(event) }
}
