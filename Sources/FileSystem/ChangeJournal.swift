import Cache
import Foundation
import Glibc
import Locking

/// Who changes a file through the mount: the local user of the calling process and its
/// program's name, as the kernel names them (`alice`, `vim`).
public struct Editor: Sendable, Equatable {
  public var user: String
  public var program: String

  /// Both are cut to 64 characters of `A-Z a-z 0-9 . _ + -` (anything else becomes `_`), so
  /// they fit an HTTP header and a CSV field as they are.
  public init(user: String, program: String) {
    self.user = Self.token(user)
    self.program = Self.token(program)
  }

  /// A change whose caller the kernel did not name (a close after the process exited).
  public static let unknown = Editor(user: "unknown", program: "unknown")

  /// The `x-amz-meta-` name of the value.
  public static let metadataName = "edited-by"

  /// `alice@ws-12 vim edgemount/1.4.0`.
  public func editedBy(host: String, software: String) -> String { "\(user)@\(Self.token(host)) \(program) \(software)" }

  /// The user name of `uid` (getpwuid_r); `uidN` for a uid without a passwd entry.
  public static func userName(_ uid: uid_t) -> String {
    var entry = passwd()
    var found: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getpwuid_r(uid, &entry, &buffer, buffer.count, &found) == 0, found != nil, let name = entry.pw_name else {
      return "uid\(uid)"
    }
    return String(cString: name)
  }

  static func token(_ text: String) -> String {
    let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-")
    let cleaned = String(text.prefix(64).map { allowed.contains($0) ? $0 : "_" })
    return cleaned.isEmpty ? "unknown" : cleaned
  }
}

/// This mount's changes and refusals (`.edgemount/changes.csv`), and the `edited-by` value
/// every PUT and DELETE carries. Bounded: the newest `capacity` rows.
final class ChangeJournal: Sendable {
  enum Action: String, Sendable {
    case put
    case delete
    case refused
  }

  struct Row: Sendable {
    var time: Int64
    var device: String
    var file: String
    var action: Action
    var versionID: String?
    var size: UInt64?
    var editor: Editor
    var reason: String?
  }

  private struct State: Sendable {
    var rows: [Row] = []
    var dropped = 0
    /// How many changes the mount made in each device folder (by device key): a `.history`
    /// listing made at another count is stale.
    var changeCounts: [String: Int] = [:]
    /// `edited-by` of the versions and delete markers this mount made, by version id: a delete
    /// marker carries no metadata on the server.
    var editedBy = BoundedCache<String, String>(limit: 4096)
  }

  static let header = "time,device,file,action,version_id,size,user,program,reason"

  /// `USER@HOST PROGRAM edgemount/VERSION` is filled in from these.
  let host: String
  let software: String
  private let capacity: Int
  private let clock: any MountClock
  private let state = Locked(State())

  init(host: String, software: String, clock: any MountClock, capacity: Int = 10_000) {
    self.host = Editor.token(host)
    self.software = software
    self.clock = clock
    self.capacity = capacity
  }

  /// `alice@ws-12 vim edgemount/1.4.0`.
  func editedBy(_ editor: Editor) -> String { editor.editedBy(host: host, software: software) }

  /// The user metadata of a PUT or DELETE by `editor`.
  func metadata(_ editor: Editor) -> [String: String] { [Editor.metadataName: editedBy(editor)] }

  /// A PUT or DELETE that the server took. `deviceKey` is the device folder's key.
  func recordChange(
    _ action: Action, deviceKey: String, device: String, file: String, versionID: String?, size: UInt64?,
    editor: Editor
  ) {
    append(
      Row(
        time: Int64(clock.now().timeIntervalSince1970), device: device, file: file, action: action,
        versionID: versionID, size: size, editor: editor, reason: nil)
    ) { s in
      s.changeCounts[deviceKey, default: 0] += 1
      if let versionID { s.editedBy[versionID] = editedBy(editor) }
    }
  }

  /// A change the mount refused (invalid, conflict, not allowed), with the reason.
  func recordRefusal(device: String, file: String, reason: String, editor: Editor) {
    append(
      Row(
        time: Int64(clock.now().timeIntervalSince1970), device: device, file: file, action: .refused, versionID: nil,
        size: nil, editor: editor, reason: reason)
    ) { _ in }
  }

  private func append(_ row: Row, _ also: (inout State) -> Void) {
    state.withLock { s in
      s.rows.append(row)
      if s.rows.count > capacity {
        let excess = s.rows.count - capacity
        s.rows.removeFirst(excess)
        s.dropped += excess
      }
      also(&s)
    }
  }

  /// How many changes this mount made in the device folder `deviceKey`.
  func changeCount(deviceKey: String) -> Int { state.withLock { $0.changeCounts[deviceKey] ?? 0 } }

  /// The `edited-by` this mount gave the version or delete marker `versionID`, if it made it.
  func editedBy(versionID: String) -> String? { state.withLock { $0.editedBy.peek(versionID) } }

  var rows: [Row] { state.withLock { $0.rows } }

  /// `.edgemount/changes.csv`: a header, then one row per change, oldest first.
  var csv: String {
    let (rows, dropped) = state.withLock { ($0.rows, $0.dropped) }
    var out = Self.header + "\n"
    if dropped > 0 {
      out += Self.line([ISOTime.string(rows.first?.time ?? 0), "", "", "", "", "", "", "", "\(dropped) older rows dropped"])
    }
    for row in rows {
      out += Self.line([
        ISOTime.string(row.time), row.device, row.file, row.action.rawValue, row.versionID ?? "",
        row.size.map(String.init) ?? "", row.editor.user, row.editor.program, row.reason ?? "",
      ])
    }
    return out
  }

  static func line(_ fields: [String]) -> String { fields.map(CSV.field).joined(separator: ",") + "\n" }
}
