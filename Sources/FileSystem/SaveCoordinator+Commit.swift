import CANedge
import Digest
import Foundation
import Locking
import S3
import Validation

extension SaveCoordinator {
  /// Validates a server file's new content and uploads it in one conditional PUT. Nothing
  /// reaches the server unless the whole file is valid and the server still holds `base`.
  /// Every refusal is logged and appended to `.edgemount/errors`.
  @discardableResult
  func commit(_ node: Node, bytes: [UInt8], base: PutCondition, editor: Editor) throws(FSError) -> String {
    let device = try tree.node(node.parent)
    guard case .device(let id) = device.kind else { throw .accessDenied("not in a device folder") }
    // The server's current version (the HEAD of the lost-update check) is asked beside the
    // validation's own requests: one round trip instead of two, 20-150 ms from the region.
    let key = node.key
    let s3 = s3
    let current = Alongside { () -> Result<String?, S3Error> in
      do throws(S3Error) { return .success(try s3.headObject(key: key).etag) } catch {
        return error.isNotFound ? .success(nil) : .failure(error)
      }
    }
    let plainTextSecrets: [String]?
    do {
      plainTextSecrets = try validate(node.name, bytes: bytes, device: device)
    } catch {
      reportRejection(device: id.description, file: node.name, error, editor: editor)
      throw error
    }
    let result: WriteResult?
    do {
      result = try upload(key: node.key, bytes: bytes, base: base, editor: editor, current: current.value)
    } catch {
      reportRejection(device: id.description, file: node.name, error, editor: editor)
      throw error
    }
    let etag: String
    if let result {
      etag = result.etag
      journal.recordChange(
        .put, deviceKey: device.key, device: id.description, file: node.name, versionID: result.versionID,
        size: UInt64(bytes.count), editor: editor)
    } else if case .ifMatch(let unchanged) = base {
      etag = unchanged  // the server already holds these bytes: nothing was uploaded
    } else {
      etag = ""
    }
    logger.info("saved \(node.key) (\(bytes.count) bytes, ETag \(etag)) for \(journal.editedBy(editor))")
    if let plainTextSecrets {
      facts.noteConfig(key: node.key, etag: etag, bytes: bytes, plainTextSecrets: plainTextSecrets)
    }
    let mtime = Int64(clock.now().timeIntervalSince1970)
    tree.update(node.ino) { n in
      n.etag = etag
      n.servedETag = etag
      n.size = UInt64(bytes.count)
      n.mtime = mtime
      n.present = true
      n.onServer = true
    }
    invalidations.fire(.inode(node.ino))
    return etag
  }

  /// A save or delete the mount refused: in the log, `.edgemount/errors` and `changes.csv`.
  func reportRejection(device: String, file: String, _ error: FSError, editor: Editor) {
    let line: String
    let reason: String
    switch error {
    case .invalid(let why): (line, reason) = ("\(device)/\(file): rejected: \(why)", why)
    case .conflict(let why): (line, reason) = ("\(device)/\(file): refused (conflict): \(why)", "conflict: \(why)")
    default: (line, reason) = ("\(device)/\(file): not saved: \(error)", "not saved: \(error)")
    }
    errors.append(line)
    logger.error("\(line)")
    journal.recordRefusal(device: device, file: file, reason: reason, editor: editor)
  }

  /// One conditional PUT. A 412 after a retried PUT may be our own earlier attempt having
  /// landed: a HEAD tells (same MD5), so a lost response is not reported as a conflict.
  /// Returns what the PUT left, or nil when the server already holds these bytes.
  /// `current`: the server's ETag from a HEAD made during the validation (nil: no object).
  private func upload(
    key: String, bytes: [UInt8], base: PutCondition, editor: Editor, current: Result<String?, S3Error>
  ) throws(FSError) -> WriteResult? {
    // Every save checks with a HEAD that the server still holds the version it replaces:
    // some servers (rclone serve s3) ignore If-Match and If-None-Match on PUT, and there the
    // check is what keeps someone else's edit; where the server honours the condition, the
    // conditional PUT also closes the moment between the HEAD and the PUT.
    let currentETag: String?
    switch current {
    case .success(let etag): currentETag = etag
    case .failure(let error): throw .s3(error)
    }
    if let refusal = Self.staleBase(base, currentETag: currentETag) { throw .conflict(refusal) }
    // The same bytes as the version being replaced (vim writing its backup back, a second
    // `cp` of the same file): no upload, so the device does not see a new object and reboot
    // for nothing.
    if case .ifMatch(let etag) = base, Self.plainMD5(etag) == Digest.hex(Digest.md5(bytes)) {
      logger.info("\(key): unchanged content, not uploaded again")
      return nil
    }
    do {
      return try s3.put(
        key: key, body: bytes, contentType: Self.contentType(key), metadata: journal.metadata(editor), condition: base)
    } catch {
      if error.isPreconditionFailed {
        let md5 = Digest.hex(Digest.md5(bytes))
        if let head = try? s3.headObject(key: key), Self.plainMD5(head.etag) == md5 {
          return WriteResult(etag: head.etag, versionID: nil)
        }
        let what: String
        switch base {
        case .ifNoneMatch: what = "the file was created on the server meanwhile"
        default: what = "the file changed on the server since it was read; reopen it and redo the edit"
        }
        throw .conflict(what)
      }
      throw .s3(error)
    }
  }

  /// Why a save on `base` must not go ahead when the server holds `currentETag` (nil: no object).
  static func staleBase(_ base: PutCondition, currentETag: String?) -> String? {
    switch base {
    case .ifMatch(let etag):
      guard let currentETag else { return "the file was deleted on the server since it was read" }
      if (plainMD5(currentETag) ?? currentETag) != (plainMD5(etag) ?? etag) {
        return "the file changed on the server since it was read; reopen it and redo the edit"
      }
      return nil
    case .ifNoneMatch:
      return currentETag == nil ? nil : "the file was created on the server meanwhile"
    case .none:
      return nil
    }
  }

  /// The MD5 an ETag names, when it is a plain one (not a multipart ETag).
  static func plainMD5(_ etag: String) -> String? {
    let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
    return bare.count == 32 && bare.allSatisfy(\.isHexDigit) ? bare : nil
  }

  /// Whether two ETags name the same content (quotes and case aside).
  static func sameETag(_ a: String, _ b: String) -> Bool {
    (plainMD5(a) ?? a.trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
      == (plainMD5(b) ?? b.trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
  }

  static func contentType(_ key: String) -> String {
    if key.hasSuffix(".json") { return "application/json" }
    if key.hasSuffix(".p7b") { return "application/x-pkcs7-certificates" }
    return "application/octet-stream"
  }
}
