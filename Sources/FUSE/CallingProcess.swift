import FileSystem
import Foundation
import Glibc

/// The user and program behind a request, for the `edited-by` metadata of what it saves: the
/// user name of the request's uid, and the name (`comm`) of the process its thread belongs to.
enum CallingProcess {
  static func editor(pid: pid_t, uid: uid_t) -> Editor {
    Editor(user: Editor.userName(uid), program: program(pid) ?? "unknown")
  }

  /// The request's pid may be a thread of a larger program: its thread group's leader names the
  /// program (a thread can rename itself).
  static func program(_ pid: pid_t) -> String? {
    guard pid > 0 else { return nil }
    var leader = pid
    if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
      let tgid = pid_t(line.dropFirst("Tgid:".count).trimmingCharacters(in: .whitespaces))
    {
      leader = tgid
    }
    guard let comm = try? String(contentsOfFile: "/proc/\(leader)/comm", encoding: .utf8) else { return nil }
    let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
    return name.isEmpty ? nil : name
  }
}
