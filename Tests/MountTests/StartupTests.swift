import Foundation
import S3
import TestSupport
import Testing

/// Starting and stopping the mount as a user does, including every way it can fail to start.
@Suite(.serialized) struct StartupTests {
  func environment(secret: String? = nil) throws -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    if let secret { env["AWS_SECRET_ACCESS_KEY"] = secret }
    return env
  }

  @Test func wrongSecretFailsFastWithOneSentenceAndNoSecret() throws {
    let s3 = try TestS3.freshBucket("wrongsecret")
    let dir = try freshDirectory("mnt-start")
    let secret = "Wrong\(UUID().uuidString)"
    let r = try Command.run(
      [MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL],
      environment: try environment(secret: secret))
    #expect(r.status != 0)
    #expect(r.seconds < 15)
    // What is known: the server refused the signature; the secret, region, endpoint or a
    // rewriting proxy can cause it.
    #expect(r.stderr.contains("refused the request signature"), "\(r.stderr)")
    #expect(r.stderr.contains("check the secret key, the region") && r.stderr.contains("--debug"), "\(r.stderr)")
    #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    #expect(!r.stderr.contains(secret) && !r.stdout.contains(secret))
    #expect(!(try String(contentsOfFile: "/proc/mounts", encoding: .utf8)).contains(dir))
    // --debug shows the canonical request that was signed, and still no secret.
    let debug = try Command.run(
      [MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL, "--foreground", "--debug"],
      environment: try environment(secret: secret))
    #expect(debug.status != 0)
    #expect(debug.stderr.contains("canonical request:") && debug.stderr.contains("x-amz-content-sha256:"), "\(debug.stderr)")
    #expect(!debug.stderr.contains(secret) && !debug.stdout.contains(secret))
  }

  @Test func missingBucketFailsFastWithOneSentence() throws {
    let dir = try freshDirectory("mnt-start")
    let r = try Command.run([
      MountedBucket.edgemount, "no-such-bucket-\(UUID().uuidString.prefix(6).lowercased())", dir, "--endpoint",
      try TestS3.endpointURL,
    ])
    #expect(r.status != 0 && r.seconds < 15)
    #expect(r.stderr.contains("does not exist"), "\(r.stderr)")
    #expect(r.stderr.split(separator: "\n").count == 1)
  }

  @Test func listPageSizeOutsideItsRangeIsRefusedBeforeMounting() throws {
    let dir = try freshDirectory("mnt-start")
    let r = try Command.run([
      MountedBucket.edgemount, "fleet", dir, "--endpoint", try TestS3.endpointURL, "--list-page-size", "50",
    ])
    #expect(r.status != 0)
    #expect(r.stderr.contains("--list-page-size must be between 1000 and 10000"), "\(r.stderr)")
    #expect(!(try String(contentsOfFile: "/proc/mounts", encoding: .utf8)).contains(dir))
  }

  /// Values a user or the environment gives that no server takes: exit status 1 and one
  /// sentence naming the value, never a crash (a `try!` on `--region` once died with SIGILL).
  // SEMANTICS.md § Start and stop
  @Test(
    arguments: [
      (["--region", "eu west/1"], [:], "is not a region name"),
      ([], ["AWS_REGION": "eu west/1"], "is not a region name"),
      (["--endpoint", "ht!tp://x"], [:], "must use http or https"),
      (["--endpoint", "http://[::1"], [:], "bad IPv6 address"),
      (["--profile", "no-such-profile"], ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""], "is not in"),
    ] as [([String], [String: String], String)])
  func badSettingsExitOneWithASentence(_ extra: [String], _ env: [String: String], _ sentence: String) throws {
    let dir = try freshDirectory("mnt-start")
    var environment = try environment()
    for (k, v) in env {
      if v.isEmpty { environment[k] = nil } else { environment[k] = v }
    }
    // The last --endpoint given counts.
    let r = try Command.run(
      [MountedBucket.edgemount, "fleet", dir, "--endpoint", try TestS3.endpointURL] + extra, environment: environment)
    #expect(r.status == 1, "\(extra) \(env): exit \(r.status)")
    #expect(r.stderr.contains(sentence), "\(r.stderr)")
    #expect(!r.stderr.contains("Fatal error") && !r.stderr.lowercased().contains("backtrace"), "\(r.stderr)")
    #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    #expect(!(try String(contentsOfFile: "/proc/mounts", encoding: .utf8)).contains(dir))
  }

  @Test func unreachableEndpointFailsWithinFifteenSeconds() throws {
    let dir = try freshDirectory("mnt-start")
    let r = try Command.run([MountedBucket.edgemount, "fleet", dir, "--endpoint", "http://127.0.0.1:9"])
    #expect(r.status != 0 && r.seconds < 15)
    #expect(r.stderr.contains("cannot reach S3"), "\(r.stderr)")
  }

  @Test(arguments: [
    (["/nonexistent/mnt"], "does not exist"),
    (["-o", "secret_access_key=abc"], "secret"),
    (["--umask", "999"], "--umask"),
    (["-o", "bogus=1"], "unknown mount option"),
  ])
  func badInvocationsAreRefusedClearly(extra: [String], message: String) throws {
    let s3 = try TestS3.freshBucket("badargs")
    let dir = try freshDirectory("mnt-start")
    let mountpoint = extra.first?.hasPrefix("/") == true ? extra[0] : dir
    let rest = extra.first?.hasPrefix("/") == true ? [] : extra
    let r = try Command.run([MountedBucket.edgemount, s3.bucket, mountpoint, "--endpoint", try TestS3.endpointURL] + rest)
    #expect(r.status != 0)
    #expect(r.stderr.contains(message), "\(r.stderr)")
    #expect(!r.stderr.contains("abc"))
  }

  @Test func busyMountPointIsRefused() throws {
    let s3 = try TestS3.freshBucket("busy")
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let r = try Command.run([MountedBucket.edgemount, s3.bucket, mount.path, "--endpoint", try TestS3.endpointURL])
    #expect(r.status != 0)
    #expect(r.stderr.contains("busy"), "\(r.stderr)")
  }

  // SEMANTICS.md § Start and stop
  @Test(arguments: ["TERM", "INT", "HUP"])
  func signalsUnmountCleanly(signal: String) throws {
    let s3 = try TestS3.freshBucket("signal")
    try s3.putObject(key: "A1B2C3D4/device.json", body: Array("{}".utf8))
    let dir = try freshDirectory("mnt-start")
    let script = """
      \(MountedBucket.edgemount) \(s3.bucket) \(dir) --endpoint \(try TestS3.endpointURL) --foreground 2>/dev/null &
      pid=$!
      for i in $(seq 100); do mountpoint -q \(dir) && break; sleep 0.1; done
      ls \(dir)
      kill -\(signal) $pid
      wait $pid; echo "exit=$?"
      mountpoint -q \(dir) && echo STILL-MOUNTED || echo unmounted
      """
    let r = try Command.shell(script)
    #expect(r.stdout.contains("A1B2C3D4"), "\(r.stdout) \(r.stderr)")
    #expect(r.stdout.contains("exit=0"), "\(r.stdout)")
    #expect(r.stdout.contains("unmounted"), "\(r.stdout)")
    if r.stdout.contains("STILL-MOUNTED") { _ = try? Command.run(["umount", "-l", dir]) }
  }

  @Test func fusermountUnmountEndsTheBackgroundProcess() throws {
    let s3 = try TestS3.freshBucket("fusermount")
    let mount = try MountedBucket(bucket: s3.bucket)
    #expect(try Command.run(["mountpoint", "-q", mount.path]).status == 0)
    let r = try Command.run(["fusermount3", "-u", mount.path])
    #expect(r.status == 0)
    Thread.sleep(forTimeInterval: 0.5)
    let ps = try Command.shell("pgrep -f '[e]dgemount \(s3.bucket) ' || true")
    #expect(ps.stdout.isEmpty, "process left: \(ps.stdout)")
    mount.unmount()
  }

  @Test func readOnlyMountRefusesWritesWithEROFS() throws {
    let s3 = try TestS3.freshBucket("readonly")
    try s3.putObject(key: "A1B2C3D4/config-01.09.json", body: Array("{}".utf8))
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--read-only"])
    defer { mount.unmount() }
    let r = try Command.shell("echo '{}' > \(mount.file("A1B2C3D4/config-01.09.json"))")
    #expect(r.stderr.contains("Read-only file system"), "\(r.stderr)")
    let ls = try Command.run(["stat", "-c", "%a", mount.file("A1B2C3D4/config-01.09.json")])
    #expect(ls.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "400")
  }

  @Test func mountOptionsThroughDashOWork() throws {
    let s3 = try TestS3.freshBucket("dasho")
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [1])
    let dir = try freshDirectory("mnt-start")
    let r = try Command.run([
      MountedBucket.edgemount, "s3://\(s3.bucket)", dir, "-o",
      "endpoint=\(try TestS3.endpointURL),ro,nodev,nosuid,_netdev,uid=1234,gid=4321,umask=027,list_ttl=5",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    defer { _ = try? Command.run(["fusermount3", "-u", dir]) }
    let st = try Command.run(["stat", "-c", "%u %g %a", dir + "/A1B2C3D4/00000001/00000001-5E0BE100.MF4"])
    #expect(st.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1234 4321 440")
  }
}

/// The mount over HTTPS with a private CA.
@Suite(.serialized) struct HTTPSMountTests {
  @Test func mountsWithCAFileAndRefusesWithoutIt() throws {
    let proxy = try TLSProxy(port: 18_978)
    defer { proxy.stop() }
    let s3 = try TestS3.freshBucket("httpsmount")
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [9, 8, 7])
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnt-tls-\(UUID().uuidString.prefix(6))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let refused = try Command.run([MountedBucket.edgemount, s3.bucket, dir, "--endpoint", proxy.endpoint])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains("TLS"), "\(refused.stderr)")
    let ok = try Command.run([MountedBucket.edgemount, s3.bucket, dir, "--endpoint", proxy.endpoint, "--ca-file", proxy.caFile])
    #expect(ok.status == 0, "\(ok.stderr)")
    defer { _ = try? Command.run(["fusermount3", "-u", dir]) }
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/A1B2C3D4/00000001/00000001-5E0BE100.MF4")) == Data([9, 8, 7]))
  }
}
