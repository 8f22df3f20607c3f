import Digest
import Foundation
import Locking

/// An HTTP call of a credential provider: one request, its failures in words (never a token).
struct CredentialHTTP: Sendable {
  let transport: any HTTPTransport
  var timeout: Duration = .seconds(5)

  func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8] = [], what: String)
    throws(CredentialError) -> HTTPResponse
  {
    do {
      return try transport.perform(HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: timeout))
    } catch {
      throw CredentialError("\(what) did not answer: \(error.message)")
    }
  }
}

/// AWS STS: `AssumeRole` (signed with the source credentials) and `AssumeRoleWithWebIdentity`
/// (unsigned; the web identity token is the proof), at the regional endpoint or the one
/// configured (`AWS_ENDPOINT_URL_STS`, the profile's `sts` `endpoint_url`).
public struct STSClient: Sendable {
  let endpoint: String
  let region: String
  let http: CredentialHTTP

  /// The `Credentials` of an STS answer, or its error.
  static func parse(_ response: HTTPResponse, what: String) throws(CredentialError) -> Credentials {
    let fields = STSResponseParser.fields(response.body)
    guard (200..<300).contains(response.status) else {
      let code = fields["Code"] ?? "HTTP \(response.status)"
      throw CredentialError("\(what) refused: \(code)\(fields["Message"].map { ": \($0)" } ?? "")")
    }
    guard let id = fields["AccessKeyId"], let secret = fields["SecretAccessKey"], let token = fields["SessionToken"],
      let expiration = fields["Expiration"].flatMap(CredentialDocument.date)
    else { throw CredentialError("\(what) answered without credentials") }
    return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, source: what, expiration: expiration)
  }

  func call(_ parameters: [(String, String)], signedWith credentials: Credentials?, what: String) throws(CredentialError)
    -> Credentials
  {
    let body = Array(
      (parameters + [("Version", "2011-06-15")]).map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }
        .joined(separator: "&").utf8)
    guard let url = URLComponents(string: endpoint), let host = url.host else {
      throw CredentialError("the STS endpoint \(endpoint) is not a URL")
    }
    let hostHeader = url.port.map { "\(host):\($0)" } ?? host
    var headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
    if let credentials {
      let signer = SigV4(credentials: credentials, region: region, service: "sts")
      let path = url.path.isEmpty ? "/" : url.path
      let signature = signer.sign(
        method: "POST", path: path, query: [], headers: headers + [("Host", hostHeader)],
        payloadHash: Digest.hex(Digest.sha256(body)), date: Date())
      headers += signature.headers
    }
    let response = try http.send("POST", endpoint, headers: headers, body: body, what: what)
    return try Self.parse(response, what: what)
  }

  /// `https://sts.REGION.amazonaws.com`, or the endpoint the environment or profile names.
  static func endpoint(environment: [String: String], profileValue: (String) -> String?, region: String) -> String {
    environment["AWS_ENDPOINT_URL_STS"] ?? profileValue("sts.endpoint_url") ?? environment["AWS_ENDPOINT_URL"]
      ?? profileValue("endpoint_url") ?? "https://sts.\(region).amazonaws.com"
  }
}

/// `role_arn` with `source_profile` or `credential_source`: the role's credentials from
/// `AssumeRole`, signed with the source's.
public struct AssumeRoleCredentialProvider: CredentialProvider {
  let source: any CredentialProvider
  let sts: STSClient
  let roleARN: String
  let sessionName: String
  let externalID: String?
  let durationSeconds: Int?
  public var name: String { "AssumeRole \(roleARN) (source: \(source.name))" }

  public func fetch() throws(CredentialError) -> Credentials {
    let base = try source.fetch()
    var parameters = [("Action", "AssumeRole"), ("RoleArn", roleARN), ("RoleSessionName", sessionName)]
    if let externalID { parameters.append(("ExternalId", externalID)) }
    if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
    return try sts.call(parameters, signedWith: base, what: name).from(name)
  }
}

/// A web identity token file (EKS IRSA: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, or a
/// profile's `web_identity_token_file`): read again at each fetch (the cluster rotates it) and
/// exchanged with `AssumeRoleWithWebIdentity`.
public struct WebIdentityCredentialProvider: CredentialProvider {
  let tokenFile: String
  let roleARN: String
  let sessionName: String
  let sts: STSClient
  public var name: String { "web identity \(roleARN)" }

  public func fetch() throws(CredentialError) -> Credentials {
    guard let data = FileManager.default.contents(atPath: tokenFile), data.count < 65_536 else {
      throw CredentialError("the web identity token file \(tokenFile) cannot be read")
    }
    let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !token.isEmpty else { throw CredentialError("the web identity token file \(tokenFile) is empty") }
    return try sts.call(
      [
        ("Action", "AssumeRoleWithWebIdentity"), ("RoleArn", roleARN), ("RoleSessionName", sessionName),
        ("WebIdentityToken", token),
      ],
      signedWith: nil, what: name
    ).from(name)
  }
}

/// ECS task roles and EKS Pod Identity: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on
/// 169.254.170.2) or `_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN` or the token in
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at each fetch) as `Authorization`.
public struct ContainerCredentialProvider: CredentialProvider {
  let url: String
  let token: String?
  let tokenFile: String?
  let http: CredentialHTTP
  public var name: String { "container credentials endpoint" }

  /// Plain HTTP only to the hosts the SDKs allow: loopback and the ECS and EKS link-local hosts.
  static func isAllowed(_ url: String) -> Bool {
    guard let components = URLComponents(string: url), let host = components.host else { return false }
    if components.scheme == "https" { return true }
    guard components.scheme == "http" else { return false }
    return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]" || host == "169.254.170.2"
      || host == "169.254.170.23" || host == "fd00:ec2::23" || host == "[fd00:ec2::23]"
  }

  public func fetch() throws(CredentialError) -> Credentials {
    var headers: [(String, String)] = []
    if let tokenFile {
      guard let data = FileManager.default.contents(atPath: tokenFile) else {
        throw CredentialError("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile) cannot be read")
      }
      headers.append(("Authorization", String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
    } else if let token {
      headers.append(("Authorization", token))
    }
    let response = try http.send("GET", url, headers: headers, what: name)
    guard response.status == 200 else { throw CredentialError("\(name) answered HTTP \(response.status)") }
    return try CredentialDocument.credentials(CredentialDocument.object(response.body, from: name), from: name)
  }
}

/// EC2 instance metadata, IMDSv2: a session token from `PUT /latest/api/token` (kept for its
/// TTL, asked for again on 401), then the instance role's credentials.
public final class InstanceMetadataCredentialProvider: CredentialProvider {
  let endpoint: String
  let http: CredentialHTTP
  static let tokenTTL = 21_600
  private let token = Locked<(value: String, until: Date)?>(nil)
  public var name: String { "EC2 instance metadata (IMDSv2)" }

  init(endpoint: String, http: CredentialHTTP) {
    self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
    self.http = http
  }

  private func sessionToken(fresh: Bool) throws(CredentialError) -> String {
    if !fresh, let token = token.withLock({ $0 }), token.until > Date() { return token.value }
    let response = try http.send(
      "PUT", endpoint + "/latest/api/token", headers: [("x-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL))],
      what: name)
    guard response.status == 200, !response.body.isEmpty, response.body.count < 4096 else {
      throw CredentialError("\(name) refused a session token (HTTP \(response.status))")
    }
    let value = String(decoding: response.body, as: UTF8.self)
    token.withLock { $0 = (value, Date().addingTimeInterval(TimeInterval(Self.tokenTTL - 60))) }
    return value
  }

  private func get(_ path: String) throws(CredentialError) -> HTTPResponse {
    var response = try http.send(
      "GET", endpoint + path, headers: [("x-aws-ec2-metadata-token", try sessionToken(fresh: false))], what: name)
    if response.status == 401 {
      response = try http.send(
        "GET", endpoint + path, headers: [("x-aws-ec2-metadata-token", try sessionToken(fresh: true))], what: name)
    }
    guard response.status == 200 else { throw CredentialError("\(name) answered HTTP \(response.status) for \(path)") }
    return response
  }

  public func fetch() throws(CredentialError) -> Credentials {
    let roles = String(decoding: try get("/latest/meta-data/iam/security-credentials/").body, as: UTF8.self)
    guard let role = roles.split(separator: "\n").first.map({ $0.trimmingCharacters(in: .whitespaces) }), !role.isEmpty,
      role.count < 128, role.allSatisfy({ $0.isLetter || $0.isNumber || "+=,.@_-".contains($0) })
    else { throw CredentialError("\(name): the instance has no IAM role") }
    let object = try CredentialDocument.object(try get("/latest/meta-data/iam/security-credentials/\(role)").body, from: name)
    if let code = object["Code"] as? String, code != "Success" { throw CredentialError("\(name): \(code)") }
    return try CredentialDocument.credentials(object, from: "\(name), role \(role)")
  }
}

/// IAM Identity Center (`aws sso login`): the access token cached in `~/.aws/sso/cache/`
/// (named by the SHA-1 of the `sso_session` name, or of the start URL for legacy profiles),
/// exchanged at the portal's `GetRoleCredentials` for the account's role.
public struct SSOCredentialProvider: CredentialProvider {
  let cacheKey: String
  let accountID: String
  let roleName: String
  let home: String
  let portal: String
  let http: CredentialHTTP
  let profile: String
  public var name: String { "SSO \(accountID)/\(roleName) (profile \(profile))" }

  public func fetch() throws(CredentialError) -> Credentials {
    let file = "\(home)/.aws/sso/cache/\(Digest.hex(Digest.sha1(Array(cacheKey.utf8)))).json"
    guard let data = FileManager.default.contents(atPath: file) else {
      throw CredentialError("no SSO login for profile \(profile) (\(file) is missing): run 'aws sso login --profile \(profile)'")
    }
    let cache = try CredentialDocument.object([UInt8](data), from: "the SSO token cache \(file)")
    guard let accessToken = cache["accessToken"] as? String, !accessToken.isEmpty,
      let expiresAt = (cache["expiresAt"] as? String).flatMap(CredentialDocument.date)
    else { throw CredentialError("the SSO token cache \(file) holds no access token") }
    guard expiresAt > Date() else {
      throw CredentialError(
        "the SSO login of profile \(profile) expired at \(expiresAt): run 'aws sso login --profile \(profile)'")
    }
    var query = URLComponents()
    query.queryItems = [URLQueryItem(name: "account_id", value: accountID), URLQueryItem(name: "role_name", value: roleName)]
    let response = try http.send(
      "GET", portal + "/federation/credentials?" + (query.percentEncodedQuery ?? ""),
      headers: [("x-amz-sso_bearer_token", accessToken)], what: name)
    guard response.status == 200 else {
      if response.status == 401 || response.status == 403 {
        throw CredentialError(
          "\(name): the portal refused the SSO login (HTTP \(response.status)): run 'aws sso login --profile \(profile)'")
      }
      throw CredentialError("\(name): the portal answered HTTP \(response.status)")
    }
    let object = try CredentialDocument.object(response.body, from: name)
    guard let role = object["roleCredentials"] as? [String: Any] else {
      throw CredentialError("\(name) answered without roleCredentials")
    }
    return try CredentialDocument.credentials(
      role, fields: .init(accessKeyID: "accessKeyId", secret: "secretAccessKey", token: "sessionToken", expiration: "expiration"),
      from: name)
  }
}
