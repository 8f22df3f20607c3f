import DemoFleet
import Digest
import Foundation
import S3
import TestSupport
import Testing

/// Every credential provider of the AWS SDKs' default chain, through a real mount, against
/// services that behave as AWS documents them (`Tests/Support/aws_emulator.py`) and an S3 front
/// that accepts only the credentials valid now; and rotation, clock skew and a provider outage.
@Suite(.serialized) struct CredentialProviderTests {
  static let device = "A1B2C3D4"
  static let log = "\(device)/00000001/00000001-5E0BE100.MF4"
  static let role = "arn:aws:iam::123456789012:role/fleet-reader"

  let emulator: AWSEmulator
  let s3: S3Client
  let home: String

  init() throws {
    emulator = try AWSEmulator()
    s3 = try TestS3.freshBucket("creds")
    try seedCANedge2Device(s3, id: Self.device)
    try s3.putObject(key: Self.log, body: try Fixtures.bytes(SampleLog.fixture))
    home = try freshDirectory("aws-home")
    try FileManager.default.createDirectory(atPath: home + "/.aws/sso/cache", withIntermediateDirectories: true)
  }

  enum Provider: String, CaseIterable {
    case webIdentityEnvironment, assumeRoleSourceProfile, assumeRoleCredentialSource, profileWebIdentity
    case credentialProcess, sso, container, instanceMetadata, profileKeys
  }

  func write(_ text: String, _ path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o600)
  }

  /// The environment of a mount on this machine with no AWS settings but HOME's files.
  func baseEnvironment() -> [String: String] {
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
    env["HOME"] = home
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_REGION"] = "us-east-1"
    return env
  }

  /// Sets up `provider` in HOME and the environment; the options the mount needs, and the
  /// words its `credentials_source` shows.
  func configure(_ provider: Provider) throws -> (env: [String: String], options: [String], source: String, service: String) {
    var env = baseEnvironment()
    env["AWS_ENDPOINT_URL_STS"] = emulator.services
    let tokenFile = home + "/token-eks"
    try write("web-identity-token\n", tokenFile)
    let keys = "aws_access_key_id = \(emulator.rootKey)\naws_secret_access_key = \(emulator.rootSecret)\n"
    switch provider {
    case .webIdentityEnvironment:
      env["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile
      env["AWS_ROLE_ARN"] = Self.role
      env["AWS_ROLE_SESSION_NAME"] = "edgemount-test"
      return (env, [], "web identity \(Self.role)", "sts_AssumeRoleWithWebIdentity")
    case .assumeRoleSourceProfile:
      try write("[base]\n\(keys)", home + "/.aws/credentials")
      try write("[profile fleet]\nrole_arn = \(Self.role)\nsource_profile = base\n", home + "/.aws/config")
      env["AWS_PROFILE"] = "fleet"
      return (env, [], "AssumeRole \(Self.role) (source: profile base", "sts_AssumeRole")
    case .assumeRoleCredentialSource:
      try write("[profile fleet]\nrole_arn = \(Self.role)\ncredential_source = Environment\n", home + "/.aws/config")
      env["AWS_ACCESS_KEY_ID"] = emulator.rootKey
      env["AWS_SECRET_ACCESS_KEY"] = emulator.rootSecret
      return (env, ["--profile", "fleet"], "AssumeRole \(Self.role) (source: environment)", "sts_AssumeRole")
    case .profileWebIdentity:
      try write("[profile fleet]\nrole_arn = \(Self.role)\nweb_identity_token_file = \(tokenFile)\n", home + "/.aws/config")
      env["AWS_PROFILE"] = "fleet"
      return (env, [], "web identity \(Self.role)", "sts_AssumeRoleWithWebIdentity")
    case .credentialProcess:
      try write("[default]\ncredential_process = curl -sf \(emulator.services)/_issue\n", home + "/.aws/config")
      return (env, [], "credential_process of profile default", "process")
    case .sso:
      try write(
        """
        [profile fleet]
        sso_session = corp
        sso_account_id = 123456789012
        sso_role_name = FleetReader
        [sso-session corp]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = eu-west-1

        """, home + "/.aws/config")
      let cache = home + "/.aws/sso/cache/" + Digest.hex(Digest.sha1(Array("corp".utf8))) + ".json"
      try write(#"{"accessToken": "sso-access-token", "expiresAt": "2099-01-01T00:00:00Z", "region": "eu-west-1"}"#, cache)
      env["AWS_PROFILE"] = "fleet"
      env["AWS_ENDPOINT_URL_SSO"] = emulator.services
      return (env, [], "SSO 123456789012/FleetReader", "sso")
    case .container:
      try write("container-token", home + "/token-pod")
      env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = emulator.services + "/container"
      env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = home + "/token-pod"
      return (env, [], "container credentials endpoint", "container")
    case .instanceMetadata:
      env["AWS_EC2_METADATA_DISABLED"] = nil
      env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = emulator.services
      return (env, [], "EC2 instance metadata (IMDSv2)", "imds")
    case .profileKeys:
      try write("[default]\n\(keys)", home + "/.aws/credentials")
      return (env, [], "profile default (shared files)", "s3")
    }
  }

  /// A foreground mount through the emulator's S3 front, its log kept.
  func mount(_ env: [String: String], _ options: [String] = []) throws -> (String, BackgroundProcess) {
    let dir = try freshDirectory("mnt-creds")
    let daemon = try BackgroundProcess(
      [MountedBucket.edgemount, s3.bucket, dir, "--endpoint", emulator.s3Endpoint, "--foreground", "--debug"] + options,
      environment: env)
    waitForMount(dir)
    return (dir, daemon)
  }

  func unmount(_ dir: String, _ daemon: BackgroundProcess) {
    daemon.stop()
    _ = try? Command.run(["umount", "-l", dir])
  }

  func status(_ dir: String) -> String { (try? String(contentsOfFile: dir + "/.edgemount/status", encoding: .utf8)) ?? "" }

  /// What a user does: list, read a log, save the config.
  func useTheMount(_ dir: String, splitSize: Int) throws {
    let listing = try Command.run(["ls", "-l", "\(dir)/\(Self.device)"])
    #expect(listing.status == 0 && listing.stdout.contains("config-01.09.json"), "\(listing.stderr)")
    let md5 = try Command.run(["md5sum", "\(dir)/\(Self.log)"])
    #expect(md5.stdout.hasPrefix(Digest.hex(Digest.md5(try Fixtures.bytes(SampleLog.fixture)))), "\(md5.stderr)")
    let sed = try Command.run([
      "sed", "-i", "-E", "s/\"split_size\": [0-9]+/\"split_size\": \(splitSize)/", "\(dir)/\(Self.device)/config-01.09.json",
    ])
    #expect(sed.status == 0, "\(sed.stderr)")
    let saved = String(decoding: try s3.getObject(key: "\(Self.device)/config-01.09.json"), as: UTF8.self)
    #expect(saved.contains("\"split_size\": \(splitSize)"))
  }

  /// No secret, session token or IMDS token the emulator issued is in what the mount shows or logs.
  func expectNoSecret(in dir: String, _ daemon: BackgroundProcess) throws {
    var seen = daemon.output + status(dir)
    seen += (try? String(contentsOfFile: dir + "/.edgemount/errors", encoding: .utf8)) ?? ""
    seen += try Command.run(["getfattr", "-d", "-m", "-", "\(dir)/\(Self.device)", "\(dir)/\(Self.log)"]).stdout
    // The mount's own command line (the emulator's names its root key, as a user's never would).
    seen += try Command.run(["ps", "-C", "edgemount", "-o", "args="]).stdout
    let issued = try emulator.issued() + [emulator.rootSecret, "web-identity-token", "sso-access-token", "container-token"]
    #expect(issued.count >= 4)
    for secret in issued {
      var context = ""
      if let range = seen.range(of: secret) {
        let start = seen.index(range.lowerBound, offsetBy: -60, limitedBy: seen.startIndex) ?? seen.startIndex
        context = String(seen[start..<range.lowerBound])
      }
      #expect(context.isEmpty, "a secret or token leaked after: \(context)")
    }
  }

  // SEMANTICS.md § Credentials for the life of the mount
  @Test(arguments: Provider.allCases) func eachProviderMountsReadsAndSaves(provider: Provider) throws {
    defer { emulator.stop() }
    let (env, options, source, service) = try configure(provider)
    let (dir, daemon) = try mount(env, options)
    defer { unmount(dir, daemon) }
    #expect(status(dir).contains("credentials_source: \(source)"), "\(provider): \(status(dir)) \(daemon.output.suffix(2000))")
    try useTheMount(dir, splitSize: 60)
    #expect((try emulator.stats()[service] ?? 0) > 0, "\(provider) asked \(service)")
    #expect(try emulator.stats()["s3_refused_SignatureDoesNotMatch"] == nil)
    let expiry = status(dir).split(separator: "\n").first { $0.hasPrefix("credentials_expire_at: ") } ?? ""
    #expect(provider == .profileKeys ? expiry.hasSuffix("never") : expiry.hasSuffix("Z"), "\(expiry)")
    try expectNoSecret(in: dir, daemon)
  }

  /// Credentials that live 20 s, each revoked at its expiry, through continuous use: every
  /// operation works, and every refresh comes before an expiry (the S3 front never refused one).
  // SEMANTICS.md § Credentials for the life of the mount
  @Test func rotationAheadOfExpiryLosesNoOperation() throws {
    defer { emulator.stop() }
    try emulator.control(["lifetime": 20])
    let (env, _, _, _) = try configure(.credentialProcess)
    let (dir, daemon) = try mount(env, ["--list-ttl", "0", "--heartbeat-ttl", "0"])
    defer { unmount(dir, daemon) }
    let until = Date().addingTimeInterval(26)
    var operations = 0
    var failures: [String] = []
    var size = 61
    while Date() < until {
      for command in [["ls", "-lR", dir + "/" + Self.device], ["cat", "\(dir)/\(Self.device)/device.json"]] {
        let r = try Command.run(command)
        operations += 1
        if r.status != 0 { failures.append("\(command): \(r.stderr)") }
      }
      if operations % 10 == 0 {
        try useTheMount(dir, splitSize: size)
        size += 1
      }
      Thread.sleep(forTimeInterval: 0.2)
    }
    #expect(failures.isEmpty, "\(failures.prefix(3))")
    let refreshed = status(dir).split(separator: "\n").first { $0.hasPrefix("credentials_refreshed: ") }
    #expect((refreshed.flatMap { Int($0.split(separator: " ")[1]) } ?? 0) >= 2, "\(status(dir))")
    let stats = try emulator.stats()
    #expect(stats["s3_refused_ExpiredToken"] == nil && stats["s3_refused_InvalidAccessKeyId"] == nil, "\(stats)")
    #expect(operations >= 20)
    try expectNoSecret(in: dir, daemon)
  }

  /// 40 ms from the server (the delay proxy in front of the S3 front), through credentials that
  /// live 20 s and are revoked at their expiry: copies of sessions, whose read-ahead signs its
  /// parallel GETs on threads of its own, run across a refresh. Every byte is exact, no copy
  /// fails, and the S3 front refused no request.
  // SEMANTICS.md § Credentials for the life of the mount
  @Test func farAwayTheReadAheadRunsThroughCredentialRotation() throws {
    defer { emulator.stop() }
    try emulator.control(["lifetime": 20])
    var all: [String: [UInt8]] = [:]
    for session in 2...13 {
      for split in 1...20 {
        let key = String(format: "%@/%08d/%08d-%08X.MF4", Self.device, session, split, 0x5E0B_E100 + session * 100 + split)
        all[key] = (0..<(60_000 + split * 3_001)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ split &* 7 &+ session) }
      }
    }
    let objects = all.sorted { $0.key < $1.key }
    DispatchQueue.concurrentPerform(iterations: 8) { part in
      for (key, bytes) in objects.enumerated().filter({ $0.offset % 8 == part }).map(\.element) {
        _ = try? s3.putObject(key: key, body: bytes)
      }
    }
    let proxy = try DelayProxy.start(
      port: 18_958, upstreamPort: URL(string: emulator.s3Endpoint)!.port!, milliseconds: 40)
    defer { proxy.stop() }
    let (env, _, _, _) = try configure(.credentialProcess)
    let dir = try freshDirectory("mnt-creds-far")
    let daemon = try BackgroundProcess(
      [MountedBucket.edgemount, s3.bucket, dir, "--endpoint", "http://127.0.0.1:18958", "--foreground"],
      environment: env)
    waitForMount(dir)
    defer { unmount(dir, daemon) }
    let until = Date().addingTimeInterval(22)
    var copied = 0
    var failures: [String] = []
    var wrong: [String] = []
    for session in 2...13 where Date() < until {
      let destination = try freshDirectory("far-copy")
      defer { try? FileManager.default.removeItem(atPath: destination) }
      let folder = String(format: "%08d", session)
      let copy = try Command.run(["rsync", "-a", "\(dir)/\(Self.device)/\(folder)/", destination + "/"])
      if copy.status != 0 { failures.append("session \(folder): \(copy.stderr)") }
      for (key, bytes) in all where key.hasPrefix("\(Self.device)/\(folder)/") {
        let name = String(key.split(separator: "/").last!)
        if FileManager.default.contents(atPath: destination + "/" + name).map(Array.init) != bytes { wrong.append(key) }
      }
      copied += 1
      Thread.sleep(forTimeInterval: 1.2)
    }
    #expect(failures.isEmpty, "\(failures.prefix(3))")
    #expect(wrong.isEmpty, "copied differently: \(wrong.sorted().prefix(3))")
    #expect(copied >= 8, "only \(copied) sessions copied in 22 s")
    let refreshed = status(dir).split(separator: "\n").first { $0.hasPrefix("credentials_refreshed: ") }
    #expect((refreshed.flatMap { Int($0.split(separator: " ")[1]) } ?? 0) >= 1, "\(status(dir))")
    let rtt = status(dir).split(separator: "\n").first { $0.hasPrefix("round_trip_ms: ") }
    #expect((rtt.flatMap { Double($0.split(separator: " ")[1]) } ?? 0) >= 39, "\(String(describing: rtt))")
    let stats = try emulator.stats()
    #expect(stats["s3_refused_ExpiredToken"] == nil && stats["s3_refused_InvalidAccessKeyId"] == nil, "\(stats)")
  }

  /// Long-lived keys rotated by editing `~/.aws/credentials`: once the old key is revoked, the
  /// first refusal (InvalidAccessKeyId) makes the mount read the files again and retry, and no
  /// operation fails.
  @Test func keysRotatedInTheSharedFilesAreTakenWithoutARemount() throws {
    defer { emulator.stop() }
    let (env, _, _, _) = try configure(.profileKeys)
    let (dir, daemon) = try mount(env, ["--heartbeat-ttl", "0"])
    defer { unmount(dir, daemon) }
    try useTheMount(dir, splitSize: 80)
    let newSecret = "rotated-\(UUID().uuidString)"
    try emulator.control(["keys": ["AKIAROTATED0001": newSecret]])
    try write(
      "[default]\naws_access_key_id = AKIAROTATED0001\naws_secret_access_key = \(newSecret)\n", home + "/.aws/credentials")
    try emulator.control(["revoke": [emulator.rootKey]])
    let read = try Command.run(["cat", "\(dir)/\(Self.device)/device.json"])
    #expect(read.status == 0, "\(read.stderr)")
    try useTheMount(dir, splitSize: 81)
    #expect(try emulator.stats()["s3_refused_InvalidAccessKeyId"] == 1)
    #expect(status(dir).contains("credentials_refreshed: 1"), "\(status(dir))")
    try expectNoSecret(in: dir, daemon)
  }

  /// A server clock 20 minutes ahead: the first request is refused, signed again at the
  /// server's time, and everything after works.
  @Test func aSkewedServerClockIsCorrectedFromItsDate() throws {
    defer { emulator.stop() }
    try emulator.control(["skew": 1200])
    var env = baseEnvironment()
    env["AWS_ACCESS_KEY_ID"] = emulator.rootKey
    env["AWS_SECRET_ACCESS_KEY"] = emulator.rootSecret
    let (dir, daemon) = try mount(env)
    defer { unmount(dir, daemon) }
    try useTheMount(dir, splitSize: 70)
    let offset = status(dir).split(separator: "\n").first { $0.hasPrefix("clock_offset_seconds: ") }
    let seconds = offset.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    #expect(abs(seconds - 1200) <= 5, "\(status(dir))")
    #expect(try emulator.stats()["s3_refused_RequestTimeTooSkewed"] == 1)
  }

  /// The provider goes down past the expiry: operations that need S3 fail at once with the
  /// reason in `.edgemount/errors`, cached data stays readable, and within seconds of the
  /// provider's return the mount works again without a remount.
  @Test func anOutagePastExpiryFailsFastAndRecoversOnItsOwn() throws {
    defer { emulator.stop() }
    try emulator.control(["lifetime": 12])
    let (env, _, _, _) = try configure(.credentialProcess)
    let (dir, daemon) = try mount(env, ["--heartbeat-ttl", "0"])
    defer { unmount(dir, daemon) }
    let expected = Digest.hex(Digest.md5(try Fixtures.bytes(SampleLog.fixture)))
    #expect(try Command.run(["md5sum", "\(dir)/\(Self.log)"]).stdout.hasPrefix(expected))
    try emulator.control(["down": true])
    Thread.sleep(forTimeInterval: 14)
    let failed = try Command.run(["cat", "\(dir)/\(Self.device)/device.json"])
    #expect(failed.status != 0 && failed.stderr.contains("Permission denied"), "\(failed.stdout) \(failed.stderr)")
    #expect(failed.seconds < 2, "failed in \(failed.seconds) s")
    let errors = (try? String(contentsOfFile: dir + "/.edgemount/errors", encoding: .utf8)) ?? ""
    #expect(errors.contains("refreshing AWS credentials from credential_process of profile default failed"), "\(errors)")
    #expect(try Command.run(["md5sum", "\(dir)/\(Self.log)"]).stdout.hasPrefix(expected), "cached data stays readable")
    try emulator.control(["down": false])
    let back = Date()
    try waitUntil("the mount works again", timeout: 15) {
      try Command.run(["cat", "\(dir)/\(Self.device)/device.json"]).status == 0
    }
    #expect(Date().timeIntervalSince(back) < 12)
    try expectNoSecret(in: dir, daemon)
  }

  /// moto's STS, an implementation of AWS's wire format nobody here wrote: the web identity and
  /// AssumeRole providers take its answers, and the mount works on moto's S3 with them.
  @Test(arguments: [Provider.webIdentityEnvironment, .assumeRoleSourceProfile])
  func motosSTSAnswersAreTaken(provider: Provider) throws {
    defer { emulator.stop() }
    guard let moto = ProcessInfo.processInfo.environment["EDGEMOUNT_MOTO_ENDPOINT"] else {
      Issue.record("EDGEMOUNT_MOTO_ENDPOINT is not set: run the tests with scripts/test")
      return
    }
    let bucket = S3Client(
      bucket: "sts-\(UUID().uuidString.prefix(8).lowercased())", endpoint: try S3Endpoint(url: moto, region: "us-east-1"),
      credentials: try TestS3.credentials, transport: CurlTransport())
    try bucket.createBucket()
    try bucket.putObject(key: "\(Self.device)/device.json", body: Array("{}".utf8))
    var (env, options, source, _) = try configure(provider)
    env["AWS_ENDPOINT_URL_STS"] = moto
    let dir = try freshDirectory("mnt-moto")
    let daemon = try BackgroundProcess(
      [MountedBucket.edgemount, bucket.bucket, dir, "--endpoint", moto, "--foreground"] + options, environment: env)
    defer { unmount(dir, daemon) }
    waitForMount(dir)
    #expect(try Command.run(["cat", "\(dir)/\(Self.device)/device.json"]).stdout == "{}", "\(daemon.output)")
    #expect(status(dir).contains("credentials_source: \(source)"), "\(status(dir))")
    let expiry = status(dir).split(separator: "\n").first { $0.hasPrefix("credentials_expire_at: ") } ?? ""
    #expect(expiry.hasSuffix("Z"), "\(expiry)")
  }
}
