import Foundation
import Glibc
import Locking
import Validation

/// The passwords of devices that encrypt their logs (`--passwords FILE`), in the CANedge
/// converters' `passwords.json`: `{"default": "…", "AABBCCDD": "…"}`, a device's own entry
/// before `default`.
///
/// A secret file: refused unless it is a regular file that only its owner (the user who
/// mounts, or root) can read and write; never logged. It is read again, at most once a second,
/// when it changes (its modification time, size or inode); a changed file that cannot be used
/// keeps the passwords already read, and says why once.
public final class DevicePasswords: Sendable {
  public struct Refusal: Error, Equatable, CustomStringConvertible {
    public let description: String
  }

  public let path: String
  private struct State: Sendable {
    var passwords: [String: String]
    var stamp: [Int64]
    var checkedAt: ContinuousClock.Instant
    var problem: String?
  }
  private let state: Locked<State>
  /// Told a sentence (never a password) when a changed file cannot be used: the mount's log
  /// and `.edgemount/errors`.
  public let reporter = Locked<(@Sendable (String) -> Void)?>(nil)

  /// Reads `path`; throws a `Refusal` saying what is wrong with it.
  public init(path: String) throws(Refusal) {
    self.path = path
    let (passwords, stamp) = try Self.load(path)
    state = Locked(State(passwords: passwords, stamp: stamp, checkedAt: .now))
  }

  /// The password for a device (`5BC57FEC`), or the default one.
  public func password(for device: String) -> String? {
    refreshIfChanged()
    return state.withLock { $0.passwords[device.uppercased()] ?? $0.passwords["default"] }
  }

  /// How many devices have their own password, and whether there is a default (for the log).
  public var summary: String {
    state.withLock { s in
      let own = s.passwords.keys.filter { $0 != "default" }.count
      return "\(own) device password\(own == 1 ? "" : "s")\(s.passwords["default"] != nil ? " and a default" : "")"
    }
  }

  private func refreshIfChanged() {
    let now = ContinuousClock.now
    let due = state.withLock { s -> Bool in
      guard now - s.checkedAt >= .seconds(1) else { return false }
      s.checkedAt = now
      return true
    }
    guard due, Self.stamp(path) != state.withLock({ $0.stamp }) else { return }
    do throws(Refusal) {
      let (passwords, stamp) = try Self.load(path)
      state.withLock {
        $0.passwords = passwords
        $0.stamp = stamp
        $0.problem = nil
      }
    } catch {
      let first = state.withLock { s -> Bool in
        defer { s.problem = error.description }
        return s.problem != error.description
      }
      if first, let report = reporter.withLock({ $0 }) { report("\(error.description); the passwords read before stay in use") }
    }
  }

  static func stamp(_ path: String) -> [Int64] {
    var st = stat()
    guard stat(path, &st) == 0 else { return [] }
    return [Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec), Int64(st.st_size), Int64(st.st_ino)]
  }

  static func load(_ path: String) throws(Refusal) -> ([String: String], [Int64]) {
    var st = stat()
    guard stat(path, &st) == 0 else {
      throw Refusal(description: "passwords file \(path): \(String(cString: strerror(errno)))")
    }
    guard st.st_mode & S_IFMT == S_IFREG else { throw Refusal(description: "passwords file \(path) is not a regular file") }
    guard st.st_mode & 0o077 == 0 else {
      throw Refusal(
        description:
          "passwords file \(path) can be read or written by other users (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it"
      )
    }
    guard st.st_uid == getuid() || st.st_uid == 0 else {
      throw Refusal(description: "passwords file \(path) belongs to another user (uid \(st.st_uid))")
    }
    guard st.st_size <= 1 << 20, let data = FileManager.default.contents(atPath: path) else {
      throw Refusal(description: "passwords file \(path) cannot be read, or is larger than 1 MiB")
    }
    let value: JSONValue
    do { value = try JSONDocument.parse([UInt8](data)) } catch {
      throw Refusal(description: "passwords file \(path) is not valid JSON (\(error.description))")
    }
    guard case .object(let entries) = value else {
      throw Refusal(description: "passwords file \(path) must be an object: {\"default\": \"…\", \"AABBCCDD\": \"…\"}")
    }
    var passwords: [String: String] = [:]
    for (name, entry) in entries {
      let key = name == "default" ? name : name.uppercased()
      guard key == "default" || (key.count == 8 && key.allSatisfy(\.isHexDigit)) else {
        throw Refusal(description: "passwords file \(path): '\(name)' is neither \"default\" nor a device ID")
      }
      guard case .string(let password) = entry, !password.isEmpty else {
        throw Refusal(description: "passwords file \(path): the entry for \(name) is not a non-empty string")
      }
      passwords[key] = password
    }
    return (passwords, stamp(path))
  }
}
