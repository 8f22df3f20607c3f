import Foundation

extension S3Client {
  /// Finds out whether the server honours `If-Match` on PUT without changing anything on a
  /// server that does: an empty PUT to a new, random key under `prefix`, on the condition
  /// that it already holds a version that cannot exist. A server that honours the condition
  /// refuses it (412, or 404 as AWS does for a missing key) and writes nothing. A server that
  /// ignores it stores the empty object, which is deleted at once.
  public func probeConditionalPut(prefix: String = "") -> ConditionalPutSupport {
    let key = "\(prefix).edgemount-probe-\(UUID().uuidString.lowercased())"
    do {
      try putObject(key: key, body: [], condition: .ifMatch("00000000000000000000000000000000"))
    } catch {
      if error.isPreconditionFailed || error.isNotFound { return .honoured }
      if error.status == 501 { return .ignored }
      return .unknown(error.status == 403 ? "no permission to write" : error.description)
    }
    try? deleteObject(key: key)
    return .ignored
  }
}
