import Foundation

/// Finds credentials, region and endpoint in the usual AWS places, in the usual order:
/// the environment, then the shared credentials file, then the config file.
public struct CredentialChain: Sendable {
  public var environment: [String: String]
  /// `--profile`; otherwise `AWS_PROFILE`, otherwise `default`.
  public var profileOverride: String?

  public init(environment: [String: String] = ProcessInfo.processInfo.environment, profile: String? = nil) {
    self.environment = environment
    self.profileOverride = profile
  }

  public var profile: String { profileOverride ?? environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default" }

  var home: String { environment["HOME"] ?? NSHomeDirectory() }
  public var credentialsPath: String { environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials" }
  public var configPath: String { environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config" }

  /// Why credentials could not be had; never contains a secret.
  public struct Failure: Error, CustomStringConvertible, Sendable {
    public let description: String
  }

  /// The loaded files, plus warnings (such as a credentials file readable by other users).
  public struct Files: Sendable {
    public var credentials: AWSConfigFile?
    public var config: AWSConfigFile?
    public var warnings: [String] = []
  }

  public func loadFiles() -> Files {
    var files = Files()
    for (path, isConfig) in [(credentialsPath, false), (configPath, true)] {
      guard let data = FileManager.default.contents(atPath: path) else { continue }
      var st = stat()
      if stat(path, &st) == 0, st.st_mode & 0o077 != 0, !isConfig {
        files.warnings.append("\(path) is readable by other users; chmod 600 it")
      }
      let file = AWSConfigFile(text: String(decoding: data, as: UTF8.self), isConfigFile: isConfig)
      if isConfig { files.config = file } else { files.credentials = file }
    }
    return files
  }

  /// Credentials from the environment, else from the profile in the credentials file, else
  /// from the profile in the config file.
  public func resolveCredentials(files: Files) throws(Failure) -> Credentials {
    // An explicit --profile takes precedence over environment keys, as in the AWS CLI.
    if profileOverride == nil, let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty {
      guard let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
        throw Failure(description: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
      }
      let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
      return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, source: "environment")
    }
    if let keys = try profileKeys(profile, files: files) { return keys }
    if profileOverride != nil || environment["AWS_PROFILE"] != nil,
      files.credentials?.profiles[profile] == nil, files.config?.profiles[profile] == nil
    {
      throw Failure(description: "profile '\(profile)' is not in \(credentialsPath) or \(configPath)")
    }
    throw Failure(
      description:
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile '\(profile)' to \(credentialsPath)"
    )
  }

  /// A profile's static keys: the credentials file first, then the config file; nil when
  /// neither has an `aws_access_key_id` for it.
  func profileKeys(_ profile: String, files: Files) throws(Failure) -> Credentials? {
    for (file, path) in [(files.credentials, credentialsPath), (files.config, configPath)] {
      guard let file, file.profiles[profile] != nil else { continue }
      guard let id = file.value("aws_access_key_id", profile: profile), !id.isEmpty else { continue }
      guard let secret = file.value("aws_secret_access_key", profile: profile), !secret.isEmpty else {
        throw Failure(description: "profile '\(profile)' in \(path) has aws_access_key_id but no aws_secret_access_key")
      }
      let token = file.value("aws_session_token", profile: profile)
      return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, source: "\(path) [\(profile)]")
    }
    return nil
  }

  /// `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
  public func region(files: Files) -> String? {
    // Set but empty counts as unset, as in the AWS SDKs.
    setting("AWS_REGION") ?? setting("AWS_DEFAULT_REGION") ?? files.config?.value("region", profile: profile)
      ?? files.credentials?.value("region", profile: profile)
  }

  /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, then the profile's `endpoint_url` (or `s3.endpoint_url`).
  public func endpoint(files: Files) -> String? {
    setting("AWS_ENDPOINT_URL_S3") ?? setting("AWS_ENDPOINT_URL")
      ?? files.config?.value("s3.endpoint_url", profile: profile)
      ?? files.config?.value("endpoint_url", profile: profile)
  }

  /// An environment variable's value, nil when unset or empty.
  func setting(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
}
