import Locking
import Logging
import S3

/// What every part of the core shares: the bucket's client, the mount's settings, where errors
/// go, the clock, and the hook that tells the kernel a file changed. Made once by
/// `FleetFileSystem` and handed to each collaborator.
struct CoreContext: Sendable {
  let s3: S3Client
  let settings: MountSettings
  let errors: ErrorLog
  let logger: Logger
  let clock: any MountClock
  let invalidations: InvalidationHook
}

/// A part of the core that works in the shared `CoreContext`.
protocol CorePart {
  var context: CoreContext { get }
}

extension CorePart {
  var s3: S3Client { context.s3 }
  var settings: MountSettings { context.settings }
  var errors: ErrorLog { context.errors }
  var logger: Logger { context.logger }
  var clock: any MountClock { context.clock }
  var invalidations: InvalidationHook { context.invalidations }
}
