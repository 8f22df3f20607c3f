import Foundation

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// The leaf elements of an STS answer (`AccessKeyId`, `SecretAccessKey`, `SessionToken`,
/// `Expiration`; `Code` and `Message` of an error), by name. Bodies that are not UTF-8 XML give
/// none (FoundationXML traps on some invalid bytes).
enum STSResponseParser {
  static let wanted: Set<String> = ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Code", "Message"]

  static func fields(_ body: [UInt8]) -> [String: String] {
    guard !body.isEmpty, body.count < 1 << 20, XMLSafety.isParseable(body) else { return [:] }
    let delegate = Delegate()
    let parser = XMLParser(data: Data(body))
    parser.delegate = delegate
    _ = parser.parse()
    return delegate.fields
  }

  private final class Delegate: NSObject, XMLParserDelegate {
    var fields: [String: String] = [:]
    private var text = ""
    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
      attributes: [String: String] = [:]
    ) { text = "" }
    func parser(_ parser: XMLParser, foundCharacters string: String) { if text.count < 20_000 { text += string } }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      if STSResponseParser.wanted.contains(name), fields[name] == nil {
        fields[name] = text.trimmingCharacters(in: .whitespacesAndNewlines)
      }
      text = ""
    }
  }
}
