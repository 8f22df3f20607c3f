import Cache
import FUSE
import FileSystem
import Foundation
import Logging
import S3

/// Everything between parsed options and a live mount: credentials, endpoint, the access
/// check, the mount point check and the kernel mount. Each failure is one clear sentence.
struct Startup {
  let command: MountCommand
  let logger: Logger

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  func mount() throws -> FUSEMount {
    let location: BucketLocation
    do { location = try BucketLocation(command.bucket) } catch { throw Failure(description: error.description) }
    let mountpoint = try checkMountpoint(command.mountpoint, allowNonEmpty: command.nonempty)

    let (client, credentials) = try command.s3.client(bucket: location.bucket, logger: logger)
    let endpoint = client.endpoint
    let region = endpoint.region
    try Self.checkAccess(client.with(retryPolicy: RetryPolicy(maxAttempts: 3, deadline: .seconds(8))), credentials: credentials)

    // Said once at start-up: whether the server closes the last gap of the lost-update check.
    // The probe's PUT carries the mount's own edited-by, like every PUT the mount makes.
    let software = "edgemount/\(EdgeMountCommand.version)"
    let probeEditor = Editor(user: Editor.userName(getuid()), program: "edgemount")
    let conditionalPut =
      command.readOnly
      ? ConditionalPutSupport.notProbed
      : client.probeConditionalPut(
        prefix: location.prefix,
        metadata: [
          Editor.metadataName: probeEditor.editedBy(host: MountSettings.localHostName(), software: software)
        ])
    logger.notice("\(conditionalPut.startupNote)")

    var settings = MountSettings()
    settings.conditionalPut = conditionalPut.description
    settings.rootPrefix = location.prefix
    settings.readOnly = command.readOnly
    settings.uid = command.uid ?? getuid()
    settings.gid = command.gid ?? getgid()
    settings.umask = command.settingsUmask
    settings.configMode = command.settingsConfigMode
    settings.listTTL = .seconds(command.listTtl)
    settings.heartbeatTTL = .seconds(command.heartbeatTtl)
    settings.byDateDeviceClock = command.byDateTz == "device"
    settings.allowDelete = command.allowDelete
    settings.sharedIndex = command.sharedIndex
    settings.decode = command.decode
    settings.readAheadLimit = Int(ByteCount.parse(command.readAhead) ?? (128 << 20))
    var passwords: DevicePasswords?
    if let path = command.passwords {
      do { passwords = try DevicePasswords(path: URL(fileURLWithPath: path).standardizedFileURL.path) } catch {
        throw Failure(description: error.description)
      }
      logger.info("passwords for encrypted logs: \(passwords!.summary), from \(passwords!.path)")
    }
    settings.software = software
    var disk: DiskBlockCache?
    var headerStore: (HeaderRecordStore, [HeaderRecordStore.Record])?
    if let dir = command.cacheDir {
      let path = URL(fileURLWithPath: dir).standardizedFileURL.path
      do {
        disk = try DiskBlockCache(
          directory: path, capacity: ByteCount.parse(command.cacheSize) ?? (2 << 30),
          writeQueueCapacity: Int(ByteCount.parse(command.cacheWriteQueue, allowingZero: true) ?? (32 << 20)))
        headerStore = try HeaderRecordStore.open(directory: path)
      } catch {
        throw Failure(description: "\(error)")
      }
      logger.info("headers of \(headerStore?.1.count ?? 0) logs loaded from \(path)")
    }
    settings.endpointDescription =
      "\(endpoint.description) (\(endpoint.pathStyle ? "path-style" : "virtual-hosted"), region \(region))"
    let fs = FleetFileSystem(
      s3: client, settings: settings, diskCache: disk, headerStore: headerStore, passwords: passwords,
      logger: Logger(label: "edgemount.fs"))
    passwords?.reporter.withLock {
      $0 = { [fs, logger] message in
        logger.error("\(message)")
        fs.errors.append(message)
      }
    }
    // Said once at start-up: whether an overwritten config can be restored from .history/.
    let enable =
      "to keep every version: aws s3api put-bucket-versioning --bucket \(location.bucket) --versioning-configuration Status=Enabled"
    switch fs.checkBucketVersioning() {
    case .enabled: logger.info("bucket versioning is on: DEVICE/.history/ keeps every version of configs and updates")
    case .off:
      logger.notice(
        "bucket versioning is off: an overwritten or deleted config cannot be restored, and DEVICE/.history/ shows current versions only (\(enable))"
      )
    case .suspended:
      logger.notice(
        "bucket versioning is suspended: a save replaces the previous content for good; versions from before stay in DEVICE/.history/ (\(enable))"
      )
    case .unknown:
      logger.notice(
        "bucket versioning is unknown (the server did not say): if it is off, an overwritten config cannot be restored (\(enable))"
      )
    }
    // Temporary credentials are refreshed ahead of their expiry for the life of the mount; a
    // refresh that fails says why in .edgemount/errors.
    let errors = fs.errors
    client.credentials.setFailureHandler { errors.append($0) }
    client.credentials.startRefreshing()

    fs.listFleetAhead()
    fs.warmConnectionsIfFar()

    var options = FUSEMount.Options()
    options.allowOther = command.allowOther
    options.readOnly = command.readOnly
    do {
      return try FUSEMount(fs: fs, mountpoint: mountpoint, options: options, logger: logger)
    } catch {
      throw Failure(description: error.description)
    }
  }

  func checkMountpoint(_ path: String, allowNonEmpty: Bool) throws -> String {
    let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
    var st = stat()
    if stat(absolute, &st) != 0 {
      let code = errno
      if code == ENOTCONN {
        throw Failure(description: "mount point \(absolute) is a dead mount: run 'fusermount3 -u \(absolute)' first")
      }
      throw Failure(description: "mount point \(absolute) does not exist")
    }
    guard st.st_mode & S_IFMT == S_IFDIR else { throw Failure(description: "mount point \(absolute) is not a directory") }
    var parent = stat()
    if stat(absolute + "/..", &parent) == 0, parent.st_dev != st.st_dev || isMounted(absolute) {
      throw Failure(description: "mount point \(absolute) is busy: something is already mounted there")
    }
    // The mount would hide what is there: refuse, as mount(8) users expect, unless asked.
    if !allowNonEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: absolute), !entries.isEmpty {
      throw Failure(
        description:
          "mount point \(absolute) is not empty (\(entries.count) entr\(entries.count == 1 ? "y" : "ies")): the mount would hide them; give --nonempty (-o nonempty) to mount over them anyway"
      )
    }
    return absolute
  }

  private func isMounted(_ path: String) -> Bool {
    guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
    return text.split(separator: "\n").contains { line in
      let fields = line.split(separator: " ")
      return fields.count > 4 && fields[4].replacingOccurrences(of: "\\040", with: " ") == path
    }
  }

  /// One ListObjectsV2 of one key; a failure becomes one sentence saying what to fix.
  static func checkAccess(_ client: S3Client, credentials: Credentials) throws {
    do {
      try client.checkAccess()
    } catch {
      let bucket = client.bucket
      let at = client.endpoint.description
      let sentence: String
      switch error {
      case .service(let e) where e.code == "NoSuchBucket" || e.status == 404:
        sentence = "bucket '\(bucket)' does not exist at \(at)"
      case .service(let e) where e.code == "SignatureDoesNotMatch":
        sentence =
          "S3 at \(at) refused the request signature for access key \(credentials.accessKeyID) (from \(credentials.source)): check the secret key, the region ('\(client.endpoint.region)') and the endpoint; a proxy that rewrites requests causes this too. Run with --foreground --debug to see the canonical request that was signed (no secret in it)"
      case .service(let e) where e.code == "InvalidAccessKeyId":
        sentence = "S3 at \(at) does not know access key \(credentials.accessKeyID) (from \(credentials.source))"
      case .service(let e) where e.code == "RequestTimeTooSkewed":
        sentence = "S3 at \(at) rejected the request because this machine's clock is off; fix the time and retry"
      case .service(let e) where e.code == "ExpiredToken" || e.code == "InvalidToken":
        sentence = "the session token (AWS_SESSION_TOKEN) is expired or invalid"
      case .service(let e) where e.status == 403:
        sentence = "access key \(credentials.accessKeyID) may not list bucket '\(bucket)' at \(at) (\(e.code))"
      case .service(let e) where e.status == 301 || e.code == "PermanentRedirect" || e.code == "AuthorizationHeaderMalformed":
        sentence = "bucket '\(bucket)' is in another region than '\(client.endpoint.region)': pass --region"
      case .service(let e):
        sentence = "S3 at \(at) answered \(e)"
      case .transport(let t):
        switch t.kind {
        case .tls:
          sentence = "TLS to \(at) failed (\(t.message)): is the certificate trusted? pass --ca-file for a private CA"
        case .resolve:
          sentence = "cannot resolve the S3 endpoint host in \(at)"
        default:
          sentence = "cannot reach S3 at \(at): \(t.message)"
        }
      case .invalidResponse(let why):
        sentence = "\(at) does not answer like S3: \(why)"
      case .credentials(let why):
        sentence = why
      }
      throw Failure(description: sentence)
    }
  }
}
