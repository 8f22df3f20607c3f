import S3

/// Why a filesystem operation failed. Turned into an errno in one place (`FSError+Errno.swift`).
public enum FSError: Error, Equatable, Sendable, CustomStringConvertible {
  case notFound
  case notDirectory
  case isDirectory
  /// Not allowed on this file (a log file, a heartbeat).
  case accessDenied(String)
  /// The mount is read-only (`--read-only`).
  case readOnly
  /// This part of the tree is a read-only view (`.by-date/`), with the reason.
  case readOnlyView(String)
  /// The content was rejected (validation), with the reason.
  case invalid(String)
  /// Someone else changed the server copy; the save was refused.
  case conflict(String)
  case notSupported
  /// Refused by the mount's rules rather than by file permissions (deletes without
  /// `--allow-delete`), with the reason.
  case notPermitted(String)
  /// More than a device-root file may hold.
  case tooLarge(String)
  case nameTooLong
  case exists
  /// A rename across folders (`mv` then copies and deletes instead).
  case crossDevice
  case badHandle
  /// S3 failed (unreachable, timeout, server error).
  case s3(S3Error)
  /// A compressed or encrypted log that cannot be decoded (`--decode`), with the reason.
  case undecodable(String)

  public var description: String {
    switch self {
    case .undecodable(let why): return "cannot decode: \(why)"
    case .notFound: return "no such file or directory"
    case .notDirectory: return "not a directory"
    case .isDirectory: return "is a directory"
    case .accessDenied(let why): return "permission denied: \(why)"
    case .readOnly: return "read-only mount"
    case .readOnlyView(let why): return why
    case .invalid(let why): return "rejected: \(why)"
    case .conflict(let why): return "conflict: \(why)"
    case .notSupported: return "operation not supported"
    case .notPermitted(let why): return "not permitted: \(why)"
    case .tooLarge(let why): return "too large: \(why)"
    case .nameTooLong: return "name too long"
    case .exists: return "file exists"
    case .crossDevice: return "cannot move between folders"
    case .badHandle: return "bad file handle"
    case .s3(let e): return e.description
    }
  }
}
