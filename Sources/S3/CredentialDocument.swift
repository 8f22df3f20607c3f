import Foundation

/// The JSON documents credential providers answer with (container and instance metadata
/// endpoints, `credential_process`, the SSO portal), read as untrusted input: a document that is
/// not what it should be gives a `CredentialError` naming the provider, never its content.
enum CredentialDocument {
  /// The names a document uses for each field.
  struct Fields {
    var accessKeyID = "AccessKeyId"
    var secret = "SecretAccessKey"
    var token = "Token"
    var expiration = "Expiration"
  }

  static func object(_ bytes: [UInt8], from source: String) throws(CredentialError) -> [String: Any] {
    guard bytes.count <= 1 << 20, let value = try? JSONSerialization.jsonObject(with: Data(bytes)),
      let object = value as? [String: Any]
    else { throw CredentialError("\(source) did not answer with a JSON object of credentials") }
    return object
  }

  static func credentials(_ object: [String: Any], fields: Fields = Fields(), from source: String) throws(CredentialError)
    -> Credentials
  {
    guard let id = object[fields.accessKeyID] as? String, !id.isEmpty, id.count < 256,
      let secret = object[fields.secret] as? String, !secret.isEmpty, secret.count < 1024
    else { throw CredentialError("\(source) answered without \(fields.accessKeyID) and \(fields.secret)") }
    let token = object[fields.token] as? String
    guard (token?.count ?? 0) < 16_384 else { throw CredentialError("\(source) answered with an oversized token") }
    var expiration: Date?
    if let text = object[fields.expiration] as? String {
      guard let date = date(text) else { throw CredentialError("\(source) answered with an unreadable \(fields.expiration)") }
      expiration = date
    } else if let milliseconds = object[fields.expiration] as? Double {
      expiration = Date(timeIntervalSince1970: milliseconds / 1000)
    }
    return Credentials(
      accessKeyID: id, secretAccessKey: secret, sessionToken: token.flatMap { $0.isEmpty ? nil : $0 }, source: source,
      expiration: expiration)
  }

  /// An ISO 8601 time, with or without fractional seconds, `Z` or an offset.
  static func date(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    if let date = plain.date(from: text) { return date }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return fractional.date(from: text)
  }
}
