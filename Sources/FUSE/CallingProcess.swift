import FileSystem
import Foundation
import Glibc
import Locking

/// The user and program behind a request, for the `edited-by` metadata of what it saves: the
/// user name of the request's uid, and the name (`comm`) of the process its thread belongs to.
enum CallingProcess {
  static func editor(pid: pid_t, uid: uid_t) -> Editor {
    Editor(user: userName(uid), program: program(pid) ?? "unknown")
  }

  /// User names by uid, looked up once each: getpwuid_r may ask a directory server (SSSD,
  /// LDAP), and a mount sees few users.
  private static let userNames = Locked<[uid_t: String]>([:])

  static func userName(_ uid: uid_t) -> String {
    if let known = userNames.withLock({ $0[uid] }) { return known }
    let name = Editor.userName(uid)
    userNames.withLock { $0[uid] = name }
    return name
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
