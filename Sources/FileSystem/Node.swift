import CANedge

/// What an inode stands for.
public enum NodeKind: Sendable, Equatable {
  case root
  /// `DEVICE_ID/`: sessions plus the device's root files.
  case device(DeviceID)
  /// `DEVICE_ID/SESSION/`: one file per split.
  case session
  /// An S3 object shown as a file.
  case object(ObjectRole)
  /// A folder of `.raw/`: the bucket exactly as stored, duplicates and foreign prefixes included.
  case rawDirectory
  /// `.edgemount/`.
  case statusDirectory
  /// A file in `.edgemount/`.
  case statusFile(StatusFile)
  /// A folder of `.by-date/`: the logs by recording day, read-only.
  case byDate(ByDateFolder)
  /// `DEVICE/.history/` or one of its `NAME/` folders: the stored versions of the files users
  /// change, read-only.
  case history(HistoryFolder)

  public var isDirectory: Bool {
    switch self {
    case .root, .device, .session, .statusDirectory, .rawDirectory, .byDate, .history: return true
    case .object, .statusFile: return false
    }
  }
}

/// What role an object plays in the tree; decides its mode, caching and what writes do.
public enum ObjectRole: Sendable, Equatable {
  case log
  case deviceFile(DeviceFileKind)
  /// Unknown names in a session, and everything under `.raw/`: read-only, as stored.
  case other
  /// A config as stored, under `.raw/`: read-only, and with the config mode, since it can hold
  /// the device's secrets.
  case storedConfig
  /// One stored version (or delete marker) of a device-root file, in `.history/NAME/`:
  /// read-only.
  case version
  /// A local file in a device folder (editor swap file, temp file, backup): never uploaded,
  /// kept until unlinked or unmount.
  case scratch
}

/// The folders of `DEVICE/.history/`.
public enum HistoryFolder: Sendable, Equatable {
  /// `DEVICE/.history/`: one folder per file with versions.
  case device
  /// `DEVICE/.history/NAME/`: one file per version of NAME, oldest first by name.
  case file
}

/// The files of `.edgemount/`.
public enum StatusFile: String, Sendable, CaseIterable {
  case status
  case errors
  case duplicates
  case devices = "devices.csv"
  case days = "days.csv"
  case changes = "changes.csv"
}

/// One inode: its place in the tree and what the last listing said about it.
struct Node: Sendable {
  let ino: UInt64
  let parent: UInt64
  var name: String
  var kind: NodeKind
  /// For directories, the key prefix they list (ends in `/`); for objects, the full key.
  var key: String
  var size: UInt64 = 0
  var etag: String = ""
  /// Seconds since 1970.
  var mtime: Int64 = 0
  /// Whether the folder shows it (the last listing had it, or it was created through the mount).
  var present = true
  /// Whether the object exists on the server, as far as the last listing or save knows. A save
  /// replaces an object that is on the server (If-Match) and creates one that is not (If-None-Match).
  var onServer = false
  /// The ETag of the version the mount last served (a save must replace exactly that one).
  var servedETag: String?
  /// Kernel references (lookups not yet forgotten).
  var lookups: UInt64 = 0
}

/// What `getattr` reports, independent of the kernel's `struct stat`.
public struct Attributes: Sendable, Equatable {
  public var ino: UInt64
  public var isDirectory: Bool
  public var mode: UInt32
  public var size: UInt64
  public var mtime: Int64
  public var uid: UInt32
  public var gid: UInt32
  /// How long the kernel may keep these attributes and the name (seconds).
  public var timeout: Double
  /// Names the file has: 2 for a log (its device-tree name and its `.by-date/` name, so `du`
  /// counts it once over both), else 1.
  public var links: UInt32 = 1
}

/// One entry of a directory listing, with the attributes readdirplus hands to the kernel.
public struct DirectoryEntry: Sendable, Equatable {
  public var name: String
  public var attributes: Attributes

  public init(name: String, attributes: Attributes) {
    self.name = name
    self.attributes = attributes
  }
}
