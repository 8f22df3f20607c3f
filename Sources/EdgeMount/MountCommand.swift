import ArgumentParser
import Cache
import FUSE
import FileSystem
import Foundation
import Logging
import S3

/// `edgemount BUCKET MOUNTPOINT [options]`: mounts a CANedge bucket.
public struct MountCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "mount",
    abstract: "Mount a CANedge S3 bucket as a directory tree per device.",
    discussion: """
      Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, then \
      ~/.aws/credentials and ~/.aws/config (AWS_PROFILE or --profile). Secrets are never \
      accepted on the command line. Unmount with 'fusermount3 -u MOUNTPOINT', umount, Ctrl-C or SIGTERM.
      Every option also works as '-o name=value' (dashes or underscores), as mount(8) passes them.
      """)

  @Argument(help: "The bucket: BUCKET or s3://BUCKET[/PREFIX].")
  var bucket: String

  @Argument(help: "An existing, empty directory to mount on.")
  var mountpoint: String

  @OptionGroup(title: "S3")
  var s3: S3Options

  @Flag(help: "Refuse every change (EROFS).")
  var readOnly = false

  @Flag(
    help:
      "Let rm delete on the server: log files (every stored copy of the split) and device root files (config, firmware.bin, certs_server.p7b)."
  )
  var allowDelete = false

  @Flag(
    help:
      "Share the headers read for .by-date/ with other mounts of the bucket: records under .edgemount-index/v1/, read before any header, merged with conditional PUTs (read only with --read-only)."
  )
  var sharedIndex = false

  @Flag(
    help:
      "Show compressed and encrypted logs (.MFC, .MFE, .MFM) as the MF4 inside, named .MF4, so MF4 readers open them through the mount (encrypted ones need --passwords)."
  )
  var decode = false

  @Option(
    help: ArgumentHelp(
      "The CANedge converters' passwords.json ({\"default\": \"...\", \"AABBCCDD\": \"...\"}) for encrypted logs; readable by its owner only, read again when it changes.",
      valueName: "file"))
  var passwords: String?

  @Flag(help: "Mount even if the mount point is not empty (its entries are hidden while mounted).")
  var nonempty = false

  @Option(help: "Folder for the disk cache of log data, kept across mounts (default: memory only).")
  var cacheDir: String?

  @Option(help: "Size bound of the disk cache in bytes; K, M, G suffixes allowed.")
  var cacheSize: String = "2G"

  @Option(
    help:
      "Memory for blocks waiting to be written to the disk cache; a block that does not fit is not cached (the read never waits). 0: the cache is only read."
  )
  var cacheWriteQueue: String = "32M"

  @Option(
    help:
      "The most bytes fetched ahead of readers (the next files of a copy, the rest of a file read in order) when S3 is far away; the mount sizes it to the measured round trip, from 8M on a local network up to this. K, M, G suffixes allowed; 8M to 1G."
  )
  var readAhead: String = "128M"

  @Option(help: "Owner of every file (default: the user who mounts).")
  var uid: UInt32?

  @Option(help: "Group of every file (default: the group of the user who mounts).")
  var gid: UInt32?

  @Option(help: "Permission bits to clear, in octal (default: 022).")
  var umask: String = "022"

  @Option(
    help: ArgumentHelp(
      "Mode of configs (they can hold the device's S3 secret key and Wi-Fi passwords), of their copies under .raw/ and of scratch files in device folders: 0600, or read for the group and others added (0640 with --gid, 0644). --umask still narrows it.",
      valueName: "octal"))
  var configMode: String = "0600"

  @Flag(help: "Let other users use the mount (needs user_allow_other in /etc/fuse.conf for non-root).")
  var allowOther = false

  @Option(help: "Seconds a directory listing is trusted.")
  var listTtl: Int = 30

  @Option(help: "Seconds device.json and schema files are trusted.")
  var heartbeatTtl: Int = 10

  @Option(
    help: ArgumentHelp(
      "Day boundaries of .by-date/: utc, or device (each log's own time zone and DST offset from its header).",
      valueName: "utc|device"))
  var byDateTz: String = "utc"

  @Flag(name: [.customShort("f"), .long], help: "Stay in the foreground and log to stderr.")
  var foreground = false

  @Flag(name: [.customShort("d"), .long], help: "Log at debug level (same as --log-level debug).")
  var debug = false

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = "info"

  public init() {}

  public func validate() throws {
    guard (0...86_400).contains(listTtl) else { throw ValidationError("--list-ttl must be 0 to 86400 seconds") }
    guard (0...86_400).contains(heartbeatTtl) else { throw ValidationError("--heartbeat-ttl must be 0 to 86400 seconds") }
    guard ["utc", "device"].contains(byDateTz) else { throw ValidationError("--by-date-tz must be utc or device") }
    guard let mask = UInt32(umask, radix: 8), mask <= 0o777 else { throw ValidationError("--umask must be octal, 000 to 777") }
    _ = mask
    guard let mode = Self.configMode(configMode) else {
      throw ValidationError(
        "--config-mode must be octal: 0600, or 0600 with read for the group (040) or others (004) added, such as 0640; write stays the owner's only"
      )
    }
    _ = mode
    guard ByteCount.parse(cacheSize) != nil else {
      throw ValidationError("--cache-size must be a number of bytes, with an optional K, M or G")
    }
    guard let queue = ByteCount.parse(cacheWriteQueue, allowingZero: true), queue <= 1 << 30 else {
      throw ValidationError("--cache-write-queue must be a number of bytes up to 1G, with an optional K, M or G")
    }
    guard let ahead = ByteCount.parse(readAhead), ahead >= 8 << 20, ahead <= 1 << 30 else {
      throw ValidationError("--read-ahead must be a number of bytes from 8M to 1G, with an optional K, M or G")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
    }
  }

  public func run() throws {
    let level: Logger.Level = debug ? .debug : Logger.Level(rawValue: logLevel) ?? .info
    let daemonChild = Daemon.isChild
    if !foreground && !daemonChild {
      // Start a detached copy in the foreground mode and wait until it has mounted (or failed).
      throw ExitCode(Daemon.spawnAndWait())
    }
    if daemonChild {
      Daemon.detach()
      SyslogLogHandler.open()
      LoggingSystem.bootstrap { SyslogLogHandler(label: $0, level: level) }
    } else {
      LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
      }
    }
    MallocTuning.apply()
    let logger = Logger(label: "edgemount")
    let mount: FUSEMount
    do {
      mount = try Startup(command: self, logger: logger).mount()
    } catch {
      Daemon.reportFailure("\(error)")
      FileHandle.standardError.write(Data("edgemount: \(error)\n".utf8))
      throw ExitCode(1)
    }
    Daemon.reportReady()
    SystemdNotifier.ready(status: "mounted \(bucket) on \(mountpoint)")
    let target = mountpoint
    let fs = mount.fs
    let signals = SignalWatcher { signal in
      if signal == SIGUSR1 {
        // The counters, in the log, as `.edgemount/status` shows them.
        logger.notice("status:\n\(fs.statusReportText)")
        return
      }
      logger.info("signal \(signal): unmounting \(target)")
      mount.stop()
    }
    signals.start()
    logger.info("mounted \(bucket) on \(mountpoint)")
    let result = mount.run()
    logger.info("unmounted \(mountpoint)")
    if result != 0 && result != SIGINT && result != SIGTERM && result != SIGHUP && result != -SIGINT
      && result != -SIGTERM && result != -SIGHUP
    {
      throw ExitCode(1)
    }
  }

  var settingsUmask: UInt32 { UInt32(umask, radix: 8) ?? 0o022 }
  var settingsConfigMode: UInt32 { Self.configMode(configMode) ?? 0o600 }

  /// A `--config-mode` value: owner read-write, and nothing beyond read for the group and others.
  static func configMode(_ text: String) -> UInt32? {
    guard let mode = UInt32(text, radix: 8), mode & 0o600 == 0o600, mode & ~0o644 == 0 else { return nil }
    return mode
  }
}
