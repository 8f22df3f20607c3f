/// The INI format of `~/.aws/credentials` and `~/.aws/config`.
///
/// In the config file profiles are `[profile NAME]` (except `[default]`); in the credentials file
/// they are `[NAME]`. Comments start with `#` or `;`; keys are case-insensitive; indented lines
/// (nested sections such as `s3 =`) are kept under their parent as `parent.key`.
public struct AWSConfigFile: Sendable, Equatable {
  /// Settings by profile name, then by lower-cased key.
  public private(set) var profiles: [String: [String: String]] = [:]

  public init(text: String, isConfigFile: Bool) {
    var section: String?
    var parent: String?
    for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
      let isIndented = rawLine.first == " " || rawLine.first == "\t"
      var line = rawLine.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
      if line.hasPrefix("[") {
        guard line.hasSuffix("]") else {
          section = nil
          continue
        }
        var name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
        if isConfigFile {
          if name.hasPrefix("profile ") {
            name = String(name.dropFirst("profile ".count)).trimmingCharacters(in: .whitespaces)
          } else if name.hasPrefix("sso-session ") {
            // Kept as "sso-session NAME", which no profile name can clash with.
            name = "sso-session " + String(name.dropFirst("sso-session ".count)).trimmingCharacters(in: .whitespaces)
          } else if name != "default" {
            section = nil  // [services x]: not a profile
            continue
          }
        }
        section = name
        parent = nil
        profiles[name, default: [:]] = profiles[name] ?? [:]
        continue
      }
      guard let section, let eq = line.firstIndex(of: "=") else { continue }
      // Inline comments after a value are only comments when preceded by white space.
      if let hash = line.range(of: " #") ?? line.range(of: " ;") { line = String(line[..<hash.lowerBound]) }
      let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
      let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
      if isIndented, let parent {
        profiles[section]?["\(parent).\(key)"] = value
      } else if value.isEmpty {
        parent = key
      } else {
        parent = nil
        profiles[section]?[key] = value
      }
    }
  }

  public func value(_ key: String, profile: String) -> String? {
    profiles[profile]?[key.lowercased()]
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
    String(self.drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
  }
}

extension Substring {
  fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
    String(self).trimmingCharacters(in: set)
  }
}

extension Set where Element == Character {
  fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
