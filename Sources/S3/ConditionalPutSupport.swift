import Foundation

/// Whether a server honours `If-Match` on PUT, which is what closes the last gap of a save's
/// lost-update check. Found by `S3Client.probeConditionalPut()`.
public enum ConditionalPutSupport: Sendable, Equatable, CustomStringConvertible {
  /// The server refused a PUT whose `If-Match` could not match (412 or 404).
  case honoured
  /// The server stored the object anyway (or answered 501 Not Implemented).
  case ignored
  /// The probe could not tell, for the reason given (no write permission, a failed request).
  case unknown(String)
  /// The mount is read-only: nothing was probed.
  case notProbed

  public var description: String {
    switch self {
    case .honoured: return "honoured"
    case .ignored: return "ignored"
    case .unknown: return "unknown"
    case .notProbed: return "not probed"
    }
  }

  /// One sentence for the start-up log: what it means for saves.
  public var startupNote: String {
    switch self {
    case .honoured:
      return "the server honours If-Match on PUT: saves are checked with a HEAD and made conditional"
    case .ignored:
      return
        "the server ignores If-Match on PUT: each save is checked with a HEAD right before its PUT, and a write by another client between the two can still be lost (docs/s3-servers.md)"
    case .unknown(let why):
      return
        "could not find out whether the server honours If-Match on PUT (\(why)): each save is checked with a HEAD right before its PUT"
    case .notProbed:
      return "read-only mount: conditional PUT not probed"
    }
  }
}
