import Foundation
import Glibc

/// A program running beside a test (the device simulator), its output in a file, stopped
/// (SIGTERM, then SIGKILL) when the test ends.
public final class BackgroundProcess: @unchecked Sendable {
  public let pid: pid_t
  private let outputPath: String
  private var stopped = false

  public init(_ arguments: [String], environment: [String: String]? = nil) throws {
    outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("bg-\(UUID()).log").path
    FileManager.default.createFile(atPath: outputPath, contents: nil)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_APPEND, 0)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let env = environment ?? ProcessInfo.processInfo.environment
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      argv.forEach { free($0) }
      envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
    guard rc == 0 else {
      throw Command.SpawnFailed(description: "cannot start \(arguments[0]): \(String(cString: strerror(rc)))")
    }
    self.pid = pid
  }

  public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

  public func stop() {
    guard !stopped else { return }
    stopped = true
    kill(pid, SIGTERM)
    var status: Int32 = 0
    for _ in 0..<50 {
      if waitpid(pid, &status, WNOHANG) == pid { return }
      Thread.sleep(forTimeInterval: 0.1)
    }
    kill(pid, SIGKILL)
    waitpid(pid, &status, 0)
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(atPath: outputPath)
  }
}
