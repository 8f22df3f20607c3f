import Foundation
import Glibc

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: CredentialProvider {
  let environment: [String: String]
  public var name: String { "environment" }
  public var canChange: Bool { false }

  public func fetch() throws(CredentialError) -> Credentials {
    guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty else { throw .missing("AWS_ACCESS_KEY_ID is not set") }
    guard let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
      throw CredentialError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
    }
    let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, source: name)
  }
}

/// A profile's `aws_access_key_id` and `aws_secret_access_key` in the shared files, read again
/// at each fetch: an edited `~/.aws/credentials` is picked up without a remount.
public struct ProfileKeysCredentialProvider: CredentialProvider {
  let chain: CredentialChain
  let profile: String
  public var name: String { "profile \(profile) (shared files)" }

  public func fetch() throws(CredentialError) -> Credentials {
    let keys: Credentials?
    do { keys = try chain.profileKeys(profile, files: chain.loadFiles()) } catch { throw CredentialError(error.description) }
    guard let keys else {
      throw CredentialError("profile '\(profile)' has no aws_access_key_id in \(chain.credentialsPath) or \(chain.configPath)")
    }
    return keys
  }
}

/// A profile's `credential_process`: the command's standard output is a JSON document
/// (`Version` 1, `AccessKeyId`, `SecretAccessKey`, `SessionToken`, `Expiration`). It runs with
/// `/bin/sh -c`, at most 60 s; its output is bounded and never logged.
public struct ProcessCredentialProvider: CredentialProvider {
  let command: String
  let profile: String
  public var name: String { "credential_process of profile \(profile)" }
  static let timeout: TimeInterval = 60

  public func fetch() throws(CredentialError) -> Credentials {
    let (status, output) = try Self.run(command)
    guard status == 0 else { throw CredentialError("\(name) exited with status \(status)") }
    let object = try CredentialDocument.object(output, from: name)
    guard (object["Version"] as? Int) == 1 else { throw CredentialError("\(name) printed no \"Version\": 1") }
    return try CredentialDocument.credentials(object, fields: .init(token: "SessionToken"), from: name)
  }

  /// Runs `command`; its standard output (at most 1 MiB) and exit status. Standard error goes
  /// where the mount's goes.
  static func run(_ command: String) throws(CredentialError) -> (Int32, [UInt8]) {
    var pipe: [Int32] = [0, 0]
    guard Glibc.pipe(&pipe) == 0 else { throw CredentialError("credential_process: no pipe") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
    posix_spawn_file_actions_addclose(&actions, pipe[0])
    let words: [String] = ["/bin/sh", "-c", command]
    let argv = words.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
    close(pipe[1])
    defer { close(pipe[0]) }
    guard spawned == 0 else { throw CredentialError("credential_process could not be started") }
    var output: [UInt8] = []
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
      var poller = pollfd(fd: pipe[0], events: Int16(POLLIN), revents: 0)
      let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
      if left == 0 || poll(&poller, 1, left) == 0 {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        throw CredentialError("credential_process did not finish within \(Int(timeout)) s")
      }
      let n = read(pipe[0], &buffer, buffer.count)
      if n < 0, errno == EINTR { continue }
      if n <= 0 { break }
      output += buffer[0..<n]
      if output.count > 1 << 20 {
        kill(pid, SIGKILL)
        break
      }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
  }
}
