import Glibc

/// What the mount was asked for on the command line, as the filesystem core needs it.
public struct MountSettings: Sendable {
  /// Key prefix the mount's root stands for (`""`, or `"some/prefix/"` from `s3://BUCKET/some/prefix`).
  public var rootPrefix: String = ""
  public var readOnly = false
  public var allowDelete = false
  public var uid: UInt32 = 0
  public var gid: UInt32 = 0
  public var umask: UInt32 = 0o022
  /// Mode of files that can hold a device's secrets: configs (also under `.raw/`, there
  /// read-only) and scratch files in device folders (`--config-mode`). The owner reads and
  /// writes; group and others may be given read. `umask` still narrows it.
  public var configMode: UInt32 = 0o600
  /// How long a listing is trusted (`--list-ttl`).
  public var listTTL: Duration = .seconds(30)
  /// How long device.json and schema files are trusted (`--heartbeat-ttl`).
  public var heartbeatTTL: Duration = .seconds(10)
  /// A device folder's listing lives no longer than its heartbeat, so device.json stays fresh.
  public var deviceListTTL: Duration { min(listTTL, heartbeatTTL) }
  /// Kernel cache time for immutable log files' entries and attributes.
  public var immutableTTL: Double = 3600
  /// Blocks of log data kept in memory (recent reads and prefetches).
  public var memoryCacheBytes = 24 << 20
  /// The most bytes fetched ahead of readers on a link with a long round trip (`--read-ahead`);
  /// the memory cache grows by what is used of it (`ReadAhead`).
  public var readAheadLimit = 128 << 20
  /// Describes the endpoint for `.edgemount/status`.
  public var endpointDescription = ""
  /// What the start-up probe found about conditional PUT (`ConditionalPutSupport`), for
  /// `.edgemount/status`.
  public var conditionalPut = "not probed"
  /// `.by-date/` days in the device's local time (`--by-date-tz device`) instead of UTC.
  public var byDateDeviceClock = false
  /// How many `.by-date/` session folders keep their list of logs; a folder beyond it is placed
  /// again, from the headers already read, when it is next used.
  public var byDateFolderLimit = 4096
  /// Read (and, unless read-only, publish) header records in the bucket, under
  /// `.edgemount-index/v1/` (`--shared-index`).
  public var sharedIndex = false
  /// Show compressed and encrypted logs as the MF4 inside, named `.MF4` (`--decode`).
  public var decode = false

  /// This machine's name and the program's version, for the `edited-by` metadata of every
  /// PUT and DELETE (`alice@HOST vim edgemount/1.4.0`).
  public var hostName = MountSettings.localHostName()
  public var software = "edgemount/dev"

  public init() {}

  /// gethostname(2); `localhost` if it fails.
  public static func localHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
    return String(cString: buffer)
  }
}
