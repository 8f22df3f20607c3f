import CFuse
import FileSystem
import Foundation
import Locking
import Logging

/// A mounted `FleetFileSystem`: the libfuse3 low-level session, its kernel mount and its loop.
///
/// Requests are answered on libfuse's worker threads (which may block on S3); the adapter only
/// translates between kernel requests and `FleetFileSystem` calls.
/// `@unchecked`: the session pointer and the two flags are only touched with `lifecycle` held
/// (or before any other thread exists).
public final class FUSEMount: @unchecked Sendable {
  public let fs: FleetFileSystem
  let logger: Logger
  let mountpoint: String
  private var session: OpaquePointer?
  /// Serialises `stop()` (signal thread) against the end of `run()` (main thread), so the
  /// session is never unmounted or flagged while it is being destroyed.
  private let lifecycle = NSLock()
  private var unmounted = false
  private var destroyed = false

  public struct MountError: Error, CustomStringConvertible {
    public let description: String
  }

  /// Options for the kernel mount.
  public struct Options: Sendable {
    public var allowOther = false
    public var readOnly = false
    public var debug = false
    public var maxThreads: UInt32 = 64
    public init() {}
  }

  public init(fs: FleetFileSystem, mountpoint: String, options: Options, logger: Logger) throws(MountError) {
    self.fs = fs
    self.logger = logger
    self.mountpoint = mountpoint
    self.options = options
    var args = ["edgemount", "-o", "fsname=edgemount:\(fs.s3.bucket),subtype=edgemount,default_permissions"]
    if options.allowOther { args += ["-o", "allow_other"] }
    if options.readOnly { args += ["-o", "ro"] }
    if options.debug { args += ["-d"] }
    var cArgs = args.map { strdup($0) }
    defer { cArgs.forEach { free($0) } }
    var ops = makeOperations()
    let created: OpaquePointer? = cArgs.withUnsafeMutableBufferPointer { argv in
      var fuseArgs = fuse_args(argc: Int32(argv.count), argv: argv.baseAddress, allocated: 0)
      defer { fuse_opt_free_args(&fuseArgs) }
      return fuse_session_new(
        &fuseArgs, &ops, MemoryLayout<fuse_lowlevel_ops>.size, Unmanaged.passUnretained(self).toOpaque())
    }
    guard let created else { throw MountError(description: "could not create the FUSE session") }
    session = created
    guard fuse_session_mount(created, mountpoint) == 0 else {
      fuse_session_destroy(created)
      session = nil
      throw MountError(
        description: "could not mount on \(mountpoint) (is /dev/fuse available, and the mount point an empty directory?)")
    }
  }

  let options: Options
  private let invalidationQueue = DispatchQueue(label: "edgemount.invalidate")

  /// Serves requests until the filesystem is unmounted or `stop()` is called; then unmounts.
  public func run() -> Int32 {
    guard let session else { return 1 }
    let config = fuse_loop_cfg_create()
    defer { fuse_loop_cfg_destroy(config) }
    fuse_loop_cfg_set_max_threads(config, options.maxThreads)
    fuse_loop_cfg_set_idle_threads(config, 8)
    fuse_loop_cfg_set_clone_fd(config, 0)
    installInvalidations(SessionHandle(pointer: session))
    let result = em_session_loop_mt(session, config)
    fs.invalidations.install(nil)
    fs.finishPendingDeletes()
    fs.drainCacheWrites()
    fs.drainSharedIndex()
    invalidationQueue.sync {}
    lifecycle.withLock {
      unmountOnce(session)
      fuse_session_destroy(session)
      destroyed = true
    }
    return result
  }

  /// Ends the loop and unmounts (from a signal-watching thread).
  public func stop() {
    lifecycle.withLock {
      guard !destroyed, let session else { return }
      fuse_session_exit(session)
      unmountOnce(session)
    }
  }

  /// Call with `lifecycle` held.
  private func unmountOnce(_ session: OpaquePointer) {
    guard !unmounted else { return }
    unmounted = true
    fuse_session_unmount(session)
  }

  /// Lets the kernel read ahead 1 MiB (its default for a FUSE mount is 128 KiB), so sequential
  /// readers get 1 MiB requests. The kernel sets the readahead when it processes the INIT
  /// reply, so this runs just after it. The mount's device numbers come from
  /// /proc/self/mountinfo: a stat of the mount point would wait for this very process to
  /// answer. Needs root; without it the kernel default stays.
  func raiseReadaheadSoon() {
    let mountpoint = self.mountpoint
    let logger = self.logger
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { Self.raiseReadahead(mountpoint: mountpoint, logger: logger) }
  }

  static func raiseReadahead(mountpoint: String, logger: Logger) {
    guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return }
    for line in text.split(separator: "\n") {
      let fields = line.split(separator: " ")
      guard fields.count > 4, fields[4].replacingOccurrences(of: "\\040", with: " ") == mountpoint else { continue }
      let path = "/sys/class/bdi/\(fields[2])/read_ahead_kb"
      if (try? "1024".write(toFile: path, atomically: false, encoding: .utf8)) == nil {
        logger.debug("could not raise the readahead in \(path)")
      }
    }
  }

  /// The session pointer, for the invalidation queue.
  /// `@unchecked`: libfuse's session may be used from any thread for invalidations.
  struct SessionHandle: @unchecked Sendable {
    let pointer: OpaquePointer
  }

  /// Tells the kernel when the core's view of a file changes. Attribute invalidation is done
  /// at once, on the thread that changed the file, so the reply that follows (a close, an
  /// fsync) is never overtaken by a stale `stat`; it takes no page locks (device files are
  /// read with direct I/O and have no cached pages), so it cannot deadlock with the request in
  /// flight. Entry invalidation waits for the kernel's directory lock, which the request that
  /// caused it may hold (unlink, rename, create): it runs on its own queue.
  private func installInvalidations(_ session: SessionHandle) {
    let queue = invalidationQueue
    let logger = self.logger
    fs.invalidations.install { event in
      switch event {
      case .inode(let ino):
        let rc = fuse_lowlevel_notify_inval_inode(session.pointer, fuse_ino_t(ino), -1, 0)
        if rc != 0 && rc != -ENOENT { logger.debug("inval_inode \(ino): \(rc)") }
      case .entry(let parent, let name):
        queue.async {
          let rc = name.withCString { fuse_lowlevel_notify_inval_entry(session.pointer, fuse_ino_t(parent), $0, name.utf8.count) }
          if rc != 0 && rc != -ENOENT { logger.debug("inval_entry \(parent)/\(name): \(rc)") }
        }
      }
    }
  }
}
