/// Turns `-o name=value,flag` mount options (as `mount -t fuse.edgemount` and fstab pass them)
/// into the long command-line flags, so both spellings reach one parser.
///
/// Dashes and underscores are alike (`cache_dir` = `cache-dir`); the generic mount options
/// are accepted; options that would carry a secret are refused.
public enum MountOptionTranslator {
  public struct Refusal: Error, CustomStringConvertible, Equatable {
    public let description: String
  }

  /// Long options that take a value, by their dashed name.
  static let valued: Set<String> = [
    "endpoint", "region", "profile", "ca-file", "uid", "gid", "umask", "list-ttl", "heartbeat-ttl", "log-level", "cache-dir",
    "cache-size", "cache-write-queue", "read-ahead", "list-page-size", "by-date-tz", "config-mode", "passwords",
  ]
  /// Long options that are flags.
  static let flags: Set<String> = [
    "path-style", "no-path-style", "read-only", "allow-other", "allow-delete", "foreground", "debug", "nonempty",
    "shared-index", "decode",
  ]
  /// Generic mount options: `ro` maps to `--read-only`, the rest are accepted and have no
  /// further effect (the kernel mount is always nodev,nosuid).
  static let generic: Set<String> = [
    "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "_netdev", "netdev", "auto", "noauto", "user", "nouser",
    "users", "defaults", "nofail", "async", "sync", "atime", "noatime", "relatime", "default-permissions",
  ]

  public static func expand(_ arguments: [String]) throws(Refusal) -> [String] {
    var out: [String] = []
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      var optionList: String?
      if arg == "-o" {
        guard i + 1 < arguments.count else { throw Refusal(description: "-o needs a list of options") }
        optionList = arguments[i + 1]
        i += 2
      } else if arg.hasPrefix("-o"), arg.count > 2, !arg.hasPrefix("--") {
        optionList = String(arg.dropFirst(2))
        i += 1
      } else {
        try refuseSecret(arg.hasPrefix("--") ? String(arg.dropFirst(2)) : nil)
        out.append(arg)
        i += 1
        continue
      }
      for item in optionList!.split(separator: ",") where !item.isEmpty {
        // `endpoint=http://a:8333,http://b:8333`: a URL after an endpoint is another endpoint
        // of the same store.
        if item.hasPrefix("http://") || item.hasPrefix("https://"), out.count >= 2, out[out.count - 2] == "--endpoint" {
          out += ["--endpoint", String(item)]
          continue
        }
        out += try translate(String(item))
      }
    }
    return out
  }

  static func translate(_ item: String) throws(Refusal) -> [String] {
    let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
    let name = parts[0].replacingOccurrences(of: "_", with: "-").lowercased()
    let rawName = String(parts[0])
    try refuseSecret(name)
    if parts.count == 2 {
      guard valued.contains(name) else {
        throw Refusal(description: "unknown mount option '\(rawName)'")
      }
      return ["--\(name)", String(parts[1])]
    }
    if name == "ro" { return ["--read-only"] }
    if generic.contains(name) || generic.contains(rawName) { return [] }
    if flags.contains(name) { return ["--\(name)"] }
    if valued.contains(name) { throw Refusal(description: "mount option '\(rawName)' needs a value: \(rawName)=…") }
    throw Refusal(description: "unknown mount option '\(rawName)'")
  }

  /// Options that would put a secret on a command line (visible in `ps`, fstab and shell history).
  static func refuseSecret(_ name: String?) throws(Refusal) {
    guard let name = name?.split(separator: "=").first.map({ $0.replacingOccurrences(of: "_", with: "-").lowercased() })
    else { return }
    // A path to a file of secrets (readable by its owner only), not a secret.
    if name == "passwords" { return }
    let words = ["secret", "password", "passwd", "token", "access-key", "accesskey", "credential"]
    if words.contains(where: { name.contains($0) }) {
      throw Refusal(
        description:
          "option '\(name)' would put a secret on the command line, where ps and fstab show it: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials (--profile)"
      )
    }
  }
}
