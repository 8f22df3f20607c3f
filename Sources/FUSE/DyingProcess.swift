import Foundation

/// Whether the process behind a request is closing its files because it is dying of a signal
/// or exiting with a failure status.
///
/// The kernel flushes every open file of a dying process. By then it has marked the task as
/// exiting (PF_EXITING in /proc/PID/stat's flags) and stored its exit status: the signal for a
/// process killed by one, `code << 8` for one that called exit.
enum DyingProcess {
  /// Why `pid` is dying ("killed by signal 9", "exited with status 1"), or nil if it is alive
  /// or exiting with status 0.
  static func failure(of pid: pid_t) -> String? {
    guard pid > 0, let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
    return failure(fromStat: text)
  }

  /// Parses a /proc/PID/stat line: fields after the command name, which may hold spaces and
  /// parentheses, so the last ')' ends it.
  static func failure(fromStat text: String) -> String? {
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    // fields[0] is field 3 (state); flags is field 9, exit_code field 52.
    guard fields.count > 49, let flags = UInt64(fields[6]),
      let status = Int32(fields[49].trimmingCharacters(in: .whitespacesAndNewlines))
    else { return nil }
    guard flags & 0x4 != 0, status != 0 else { return nil }
    let signal = status & 0x7f
    return signal != 0 ? "was killed by signal \(signal)" : "exited with status \((status >> 8) & 0xff)"
  }
}
