import Foundation

/// Runs a program to completion, capturing its output in files (no pipe can fill up).
public struct Command {
  public struct Result: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var seconds: Double
  }

  @discardableResult
  public static func run(_ arguments: [String], environment: [String: String]? = nil, input: String? = nil) throws -> Result {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err"), inp = dir.appendingPathComponent("in")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    FileManager.default.createFile(atPath: inp.path, contents: Data((input ?? "").utf8))
    let start = Date()
    let status = try spawnAndWait(arguments, environment: environment, stdin: inp.path, stdout: out.path, stderr: err.path)
    return Result(
      status: status,
      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
      seconds: Date().timeIntervalSince(start))
  }

  /// posix_spawn + waitpid: Foundation's Process can hang in waitUntilExit off the main thread.
  static func spawnAndWait(_ arguments: [String], environment: [String: String]?, stdin: String, stdout: String, stderr: String)
    throws -> Int32
  {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_TRUNC, 0)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_TRUNC, 0)
    let env = environment ?? ProcessInfo.processInfo.environment
    let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      argv.forEach { free($0) }
      envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp)
    guard rc == 0 else { throw SpawnFailed(description: "cannot run \(arguments.first ?? ""): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    // WIFEXITED / WEXITSTATUS, spelled out (the macros are not imported).
    if status & 0x7f == 0 { return (status >> 8) & 0xff }
    return 128 + (status & 0x7f)
  }

  public struct SpawnFailed: Error, CustomStringConvertible {
    public let description: String
  }

  /// Runs a shell snippet with `bash -c`.
  @discardableResult
  public static func shell(_ script: String, environment: [String: String]? = nil) throws -> Result {
    try run(["bash", "-c", script], environment: environment)
  }
}
