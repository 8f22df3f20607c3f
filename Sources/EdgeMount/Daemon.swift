import Foundation
import Glibc

/// Running in the background without fork(): the command re-executes itself in the foreground
/// mode in a new session, with a pipe on which the child says "ready" or why it failed. So
/// start-up errors still reach the terminal, and the parent's exit status tells success.
enum Daemon {
  static let readyFDVariable = "EDGEMOUNT_READY_FD"

  static var isChild: Bool { ProcessInfo.processInfo.environment[readyFDVariable] != nil }

  private static var readyFD: Int32? {
    ProcessInfo.processInfo.environment[readyFDVariable].flatMap { Int32($0) }
  }

  /// Detaches the background copy from the terminal's session.
  static func detach() { if isChild { setsid() } }

  static func reportReady() { send("ready\n") }

  static func reportFailure(_ message: String) { send("error: \(message)\n") }

  private static func send(_ text: String) {
    guard let fd = readyFD else { return }
    _ = text.withCString { write(fd, $0, strlen($0)) }
    close(fd)
    unsetenv(readyFDVariable)
  }

  /// Starts the background copy and returns the exit status for the parent.
  static func spawnAndWait() -> Int32 {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else {
      FileHandle.standardError.write(Data("edgemount: cannot create a pipe\n".utf8))
      return 1
    }
    // The child keeps the write end under its own number; it is not close-on-exec.
    let childFD = fds[1]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)

    let arguments = CommandLine.arguments
    var environment = ProcessInfo.processInfo.environment
    environment[readyFDVariable] = String(childFD)
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      argv.forEach { free($0) }
      envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, envp)
    close(fds[1])
    guard rc == 0 else {
      FileHandle.standardError.write(
        Data("edgemount: cannot start the background process: \(String(cString: strerror(rc)))\n".utf8))
      return 1
    }
    var message = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = read(fds[0], &buffer, buffer.count)
      if n > 0 { message += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
    }
    close(fds[0])
    let text = String(decoding: message, as: UTF8.self)
    if text.hasPrefix("ready") { return 0 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    if text.hasPrefix("error: ") {
      FileHandle.standardError.write(Data("edgemount: \(text.dropFirst(7))".utf8))
    } else {
      FileHandle.standardError.write(Data("edgemount: the background process exited before mounting (see syslog)\n".utf8))
    }
    return 1
  }
}
