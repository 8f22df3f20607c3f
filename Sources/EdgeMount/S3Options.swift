import ArgumentParser
import Foundation
import Logging
import S3

/// The options that say how to reach S3, shared by `mount` and `dedupe`.
struct S3Options: ParsableArguments {
  @Option(
    help:
      "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS). Give it more than once, or as a comma list, for the gateways of one store: requests go to a healthy one."
  )
  var endpoint: [String] = []

  /// The endpoints given, comma lists split.
  var endpointURLs: [String] {
    endpoint.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
  }

  @Option(help: "Region for signing (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1).")
  var region: String?

  @Flag(inversion: .prefixedNo, help: "Path-style addressing (default: on for non-AWS endpoints).")
  var pathStyle: Bool?

  @Option(help: "Profile in ~/.aws/credentials and ~/.aws/config.")
  var profile: String?

  @Option(help: "PEM file of certificate authorities to trust for HTTPS.")
  var caFile: String?

  @Option(
    help: ArgumentHelp(
      "Keys asked for per listing page, 1000 to 10000 (AWS answers at most 1000 whatever is asked; SeaweedFS and others answer more, in fewer requests).",
      valueName: "keys"))
  var listPageSize: Int = S3Client.preferredPageSize

  /// Rejects what no server would accept, before anything is mounted.
  func validate() throws {
    // A value no region has is a failure to start (exit 1, one sentence), like a region from
    // the environment or a profile.
    if let region, !S3Endpoint.isRegionName(region) {
      throw Failure(
        description: "--region '\(region)' is not a region name: letters, digits and dashes, such as eu-west-1")
    }
    guard (1000...10000).contains(listPageSize) else {
      throw ValidationError("--list-page-size must be between 1000 and 10000, not \(listPageSize)")
    }
  }

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// A client for `bucket`, with credentials from the usual places. Warnings go to `logger`.
  func client(bucket: String, logger: Logger) throws -> (S3Client, Credentials) {
    let chain = CredentialChain(profile: profile)
    let files = chain.loadFiles()
    for warning in files.warnings { logger.warning("\(warning)") }
    var transportOptions = TransportOptions()
    transportOptions.caFile = caFile
    let transport = CurlTransport(options: transportOptions)
    // The instance and container endpoints answer at once or not at all (off EC2).
    var metadataOptions = TransportOptions()
    metadataOptions.connectTimeout = .seconds(1)
    metadataOptions.totalTimeout = .seconds(5)
    let resolved: CredentialChain.Resolved
    do {
      resolved = try chain.resolveProvider(
        files: files, http: transport, metadataHTTP: CurlTransport(options: metadataOptions))
    } catch { throw Failure(description: error.description) }
    let refreshing = RefreshingCredentials(
      provider: resolved.provider, rechecks: resolved.rechecks, logger: Logger(label: "edgemount.credentials"))
    let credentials: Credentials
    do { credentials = try refreshing.current() } catch {
      if resolved.provider is InstanceMetadataCredentialProvider {
        throw Failure(description: "\(chain.noCredentials) (EC2 instance metadata: \(error.description))")
      }
      throw Failure(description: "cannot get AWS credentials from \(resolved.provider.name): \(error.description)")
    }
    let region = self.region ?? chain.region(files: files) ?? "us-east-1"
    guard S3Endpoint.isRegionName(region) else {
      throw Failure(description: "region '\(region)' (from AWS_REGION, AWS_DEFAULT_REGION or the profile) is not a region name")
    }
    let endpoint: S3Endpoint
    var more: [S3Endpoint] = []
    do {
      if let url = endpointURLs.first ?? chain.endpoint(files: files) {
        endpoint = try S3Endpoint(url: url, region: region, pathStyle: pathStyle)
        for url in endpointURLs.dropFirst() { more.append(try S3Endpoint(url: url, region: region, pathStyle: pathStyle)) }
      } else {
        var aws = try S3Endpoint.aws(region: region)
        if let style = pathStyle { aws.pathStyle = style }
        endpoint = aws
      }
    } catch { throw Failure(description: error.description) }
    if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
      throw Failure(description: "--ca-file \(caFile) does not exist or cannot be read")
    }
    let client = S3Client(
      bucket: bucket, endpoint: endpoint, credentials: refreshing, transport: transport,
      logger: Logger(label: "edgemount.s3"), listPageSize: listPageSize, moreEndpoints: more)
    return (client, credentials)
  }
}
