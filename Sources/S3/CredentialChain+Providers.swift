import Foundation

extension CredentialChain {
  /// The provider the AWS SDKs' default chain picks, in their order: environment keys; web
  /// identity from the environment; the profile in the shared files (static keys, `role_arn`
  /// with `source_profile` or `credential_source`, `web_identity_token_file`,
  /// `credential_process`, SSO); container credentials; EC2 instance metadata (IMDSv2, unless
  /// `AWS_EC2_METADATA_DISABLED`). With `--profile`, only that profile. `rechecks`: keys that
  /// come from the shared files, to be read again when they change.
  public struct Resolved: Sendable {
    public var provider: any CredentialProvider
    public var rechecks: Bool
  }

  /// `http` carries STS and SSO requests; `metadataHTTP` the instance and container endpoints
  /// (short timeouts: off EC2 the metadata address does not answer).
  public func resolveProvider(files: Files, http: any HTTPTransport, metadataHTTP: any HTTPTransport) throws(Failure) -> Resolved
  {
    let remote = CredentialHTTP(transport: http)
    let local = CredentialHTTP(transport: metadataHTTP, timeout: .seconds(2))
    if profileOverride == nil, let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty {
      return Resolved(provider: EnvironmentCredentialProvider(environment: environment), rechecks: false)
    }
    if profileOverride == nil, let tokenFile = nonEmpty("AWS_WEB_IDENTITY_TOKEN_FILE") {
      guard let role = nonEmpty("AWS_ROLE_ARN") else {
        throw Failure(description: "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
      }
      let sts = stsClient(files: files, profile: profile, http: remote)
      let session = nonEmpty("AWS_ROLE_SESSION_NAME") ?? Self.defaultSessionName()
      return Resolved(
        provider: WebIdentityCredentialProvider(tokenFile: tokenFile, roleARN: role, sessionName: session, sts: sts),
        rechecks: false)
    }
    if let resolved = try profileProvider(profile, files: files, visited: [], remote: remote, local: local) {
      return resolved
    }
    if profileOverride != nil || environment["AWS_PROFILE"] != nil,
      files.credentials?.profiles[profile] == nil, files.config?.profiles[profile] == nil
    {
      throw Failure(description: "profile '\(profile)' is not in \(credentialsPath) or \(configPath)")
    }
    if profileOverride == nil, let container = try containerProvider(http: local) {
      return Resolved(provider: container, rechecks: false)
    }
    if profileOverride == nil, !metadataDisabled {
      return Resolved(provider: instanceMetadata(files: files, http: local), rechecks: false)
    }
    throw Failure(description: noCredentials)
  }

  public var noCredentials: String {
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile '\(profile)' to \(credentialsPath)"
  }

  var metadataDisabled: Bool { environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" }

  private func nonEmpty(_ name: String) -> String? {
    environment[name].flatMap { $0.isEmpty ? nil : $0 }
  }

  static func defaultSessionName() -> String { "edgemount-\(Int(Date().timeIntervalSince1970))" }

  /// A setting of `profile`: the credentials file first, then the config file.
  func setting(_ key: String, profile: String, files: Files) -> String? {
    (files.credentials?.value(key, profile: profile) ?? files.config?.value(key, profile: profile)).flatMap {
      $0.isEmpty ? nil : $0
    }
  }

  func stsClient(files: Files, profile: String, http: CredentialHTTP) -> STSClient {
    let region =
      environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? setting("region", profile: profile, files: files)
      ?? "us-east-1"
    let endpoint = STSClient.endpoint(
      environment: environment, profileValue: { setting($0, profile: profile, files: files) }, region: region)
    return STSClient(endpoint: endpoint, region: region, http: http)
  }

  private func profileProvider(_ name: String, files: Files, visited: Set<String>, remote: CredentialHTTP, local: CredentialHTTP)
    throws(Failure) -> Resolved?
  {
    let value = { (key: String) in setting(key, profile: name, files: files) }
    guard files.credentials?.profiles[name] != nil || files.config?.profiles[name] != nil else { return nil }
    if let role = value("role_arn") {
      let sts = stsClient(files: files, profile: name, http: remote)
      let session = value("role_session_name") ?? Self.defaultSessionName()
      if let tokenFile = value("web_identity_token_file") {
        return Resolved(
          provider: WebIdentityCredentialProvider(tokenFile: tokenFile, roleARN: role, sessionName: session, sts: sts),
          rechecks: false)
      }
      let source: any CredentialProvider
      if let sourceProfile = value("source_profile") {
        guard !visited.contains(sourceProfile) else {
          throw Failure(description: "profile '\(name)': source_profile '\(sourceProfile)' leads back to itself")
        }
        if sourceProfile == name {
          source = ProfileKeysCredentialProvider(chain: self, profile: name)
        } else if let inner = try profileProvider(
          sourceProfile, files: files, visited: visited.union([name]), remote: remote, local: local)
        {
          source = inner.provider
        } else {
          throw Failure(
            description: "profile '\(name)': source_profile '\(sourceProfile)' is not in \(credentialsPath) or \(configPath)")
        }
      } else if let kind = value("credential_source") {
        switch kind {
        case "Environment": source = EnvironmentCredentialProvider(environment: environment)
        case "Ec2InstanceMetadata": source = instanceMetadata(files: files, http: local)
        case "EcsContainer":
          guard let container = try containerProvider(http: local) else {
            throw Failure(
              description: "profile '\(name)': credential_source EcsContainer, but no container credentials variable is set")
          }
          source = container
        default:
          throw Failure(
            description: "profile '\(name)': credential_source must be Environment, Ec2InstanceMetadata or EcsContainer")
        }
      } else {
        throw Failure(
          description: "profile '\(name)' has role_arn but no source_profile, credential_source or web_identity_token_file")
      }
      let duration = value("duration_seconds").flatMap(Int.init)
      return Resolved(
        provider: AssumeRoleCredentialProvider(
          source: source, sts: sts, roleARN: role, sessionName: session, externalID: value("external_id"),
          durationSeconds: duration), rechecks: false)
    }
    if let command = value("credential_process") {
      return Resolved(provider: ProcessCredentialProvider(command: command, profile: name), rechecks: false)
    }
    if let sso = try ssoProvider(name, files: files, http: remote) { return Resolved(provider: sso, rechecks: false) }
    if value("aws_access_key_id") != nil {
      return Resolved(provider: ProfileKeysCredentialProvider(chain: self, profile: name), rechecks: true)
    }
    return nil
  }

  private func ssoProvider(_ name: String, files: Files, http: CredentialHTTP) throws(Failure) -> SSOCredentialProvider? {
    let value = { (key: String) in setting(key, profile: name, files: files) }
    let cacheKey: String
    let region: String
    if let session = value("sso_session") {
      let section = "sso-session \(session)"
      guard let settings = files.config?.profiles[section] else {
        throw Failure(description: "profile '\(name)': [sso-session \(session)] is not in \(configPath)")
      }
      guard let r = settings["sso_region"], settings["sso_start_url"] != nil else {
        throw Failure(description: "[sso-session \(session)] in \(configPath) needs sso_start_url and sso_region")
      }
      cacheKey = session
      region = r
    } else if let start = value("sso_start_url") {
      guard let r = value("sso_region") else {
        throw Failure(description: "profile '\(name)' has sso_start_url but no sso_region")
      }
      cacheKey = start
      region = r
    } else {
      return nil
    }
    guard let account = value("sso_account_id"), let role = value("sso_role_name") else {
      throw Failure(description: "profile '\(name)' needs sso_account_id and sso_role_name")
    }
    let portal = environment["AWS_ENDPOINT_URL_SSO"] ?? "https://portal.sso.\(region).amazonaws.com"
    return SSOCredentialProvider(
      cacheKey: cacheKey, accountID: account, roleName: role, home: home, portal: portal, http: http,
      profile: name)
  }

  private func containerProvider(http: CredentialHTTP) throws(Failure) -> ContainerCredentialProvider? {
    let url: String
    if let relative = nonEmpty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
      url = "http://169.254.170.2" + relative
    } else if let full = nonEmpty("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
      guard ContainerCredentialProvider.isAllowed(full) else {
        throw Failure(
          description: "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback or the ECS/EKS link-local address"
        )
      }
      url = full
    } else {
      return nil
    }
    return ContainerCredentialProvider(
      url: url, token: nonEmpty("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
      tokenFile: nonEmpty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
      http: http)
  }

  private func instanceMetadata(files: Files, http: CredentialHTTP) -> InstanceMetadataCredentialProvider {
    let endpoint =
      nonEmpty("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?? setting("ec2_metadata_service_endpoint", profile: profile, files: files)
      ?? "http://169.254.169.254"
    return InstanceMetadataCredentialProvider(endpoint: endpoint, http: http)
  }
}
