import Foundation

/// An AWS access key pair, optionally with a session token.
///
/// Its descriptions never contain the secret or the token, so it is safe to interpolate into
/// a log message by mistake.
public struct Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
  public let accessKeyID: String
  public let secretAccessKey: String
  public let sessionToken: String?
  /// Where these credentials were found, for messages ("environment", "~/.aws/credentials [default]").
  public let source: String
  /// When temporary credentials stop working; nil for long-lived keys.
  public let expiration: Date?

  public init(
    accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "explicit",
    expiration: Date? = nil
  ) {
    self.accessKeyID = accessKeyID
    self.secretAccessKey = secretAccessKey
    self.sessionToken = sessionToken
    self.source = source
    self.expiration = expiration
  }

  /// The same keys, said to come from `source`.
  public func from(_ source: String) -> Credentials {
    Credentials(
      accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken, source: source,
      expiration: expiration)
  }

  public var description: String { "Credentials(\(accessKeyID), secret redacted, from \(source))" }
  public var debugDescription: String { description }
}
