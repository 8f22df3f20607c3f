import Foundation

/// One place AWS credentials come from (environment, a profile's keys, STS, SSO, a process,
/// the container or instance metadata endpoint). `fetch` asks it once; `RefreshingCredentials`
/// asks again before what it gave expires.
public protocol CredentialProvider: Sendable {
  /// What the provider is, for status and messages: never a key, a token or a secret.
  var name: String { get }
  func fetch() throws(CredentialError) -> Credentials
  /// Whether asking again can give other credentials (false for fixed keys: a refused key is
  /// then not asked for again).
  var canChange: Bool { get }
}

extension CredentialProvider {
  public var canChange: Bool { true }
}

/// Why a provider gave no credentials. Never holds a secret, a token or a web identity token.
public struct CredentialError: Error, CustomStringConvertible, Sendable, Equatable {
  public var description: String
  /// The provider is not set up here (no such variable, no such profile key): the chain goes
  /// on to the next one. A provider that is set up and fails stops the chain, as in the SDKs.
  public var notConfigured: Bool

  public init(_ description: String, notConfigured: Bool = false) {
    self.description = description
    self.notConfigured = notConfigured
  }

  static func missing(_ what: String) -> CredentialError { CredentialError(what, notConfigured: true) }
}

/// Credentials that never change (given on the command line of a test, or kept in memory).
public struct StaticCredentialProvider: CredentialProvider {
  public let credentials: Credentials
  public var name: String { credentials.source }
  public var canChange: Bool { false }
  public init(_ credentials: Credentials) { self.credentials = credentials }
  public func fetch() throws(CredentialError) -> Credentials { credentials }
}
