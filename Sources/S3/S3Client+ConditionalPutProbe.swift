import Foundation

extension S3Client {
  /// Finds out whether the server honours `If-Match` on PUT without changing anything on a
  /// server that does: an empty PUT to a new, random key under `prefix`, on the condition
  /// that it already holds a version that cannot exist. A server that honours the condition
  /// refuses it (412, or 404 as AWS does for a missing key) and writes nothing. A server that
  /// ignores it stores the empty object, which is deleted at once.
  /// `metadata` goes with the probe's PUT and DELETE (the mount's `edited-by`).
  public func probeConditionalPut(prefix: String = "", metadata: [String: String] = [:]) -> ConditionalPutSupport {
    let key = "\(prefix).edgemount-probe-\(UUID().uuidString.lowercased())"
    do {
      try putObject(key: key, body: [], metadata: metadata, condition: .ifMatch("00000000000000000000000000000000"))
    } catch {
      if error.isPreconditionFailed || error.isNotFound { return .honoured }
      if error.status == 501 { return .ignored }
      return .unknown(error.status == 403 ? "no permission to write" : error.description)
    }
    _ = try? deleteObject(key: key, metadata: metadata)
    return .ignored
  }
}
