/// The fields of a CANedge HD comment: `<e name="serial number" ro="true">2F6913DB</e>`
/// entries of its `<HDcomment>` XML, names and values trimmed.
///
/// A bounded scan of the bytes, not an XML parser: Foundation's XMLParser crashes on some
/// damaged comments (a force-unwrap in its element callback, found by
/// `MF4HeaderReaderTests.mutatedRealFilesNeverCrash`), and a log's header is untrusted input.
/// The five predefined entities and numeric character references are decoded; anything that
/// is not valid UTF-8 is dropped. At most 64 fields, names of at most 64 bytes and values of
/// at most 256 are kept.
enum MF4HeaderComment {
  static func fields(_ xml: [UInt8]) -> [String: String] {
    var fields: [String: String] = [:]
    var i = 0
    let n = xml.count
    func at(_ j: Int) -> UInt8 { j < n ? xml[j] : 0 }
    while i < n, fields.count < 64 {
      guard xml[i] == UInt8(ascii: "<"), at(i + 1) == UInt8(ascii: "e"), [0x20, 0x09, 0x0A, 0x0D].contains(at(i + 2)) else {
        i += 1
        continue
      }
      // The start tag, up to its '>'.
      guard let close = xml[i...].firstIndex(of: UInt8(ascii: ">")) else { break }
      let tag = Array(xml[(i + 2)..<close])
      i = close + 1
      guard tag.last != UInt8(ascii: "/"), let name = attribute("name", in: tag) else { continue }
      // The text, up to the next '<' (CANedge values hold no markup).
      let end = xml[i...].firstIndex(of: UInt8(ascii: "<")) ?? n
      let value = decode(Array(xml[i..<end]))
      i = end
      guard let name = name.map(trim), let value = value.map(trim), !name.isEmpty, name.utf8.count <= 64,
        value.utf8.count <= 256
      else { continue }
      fields[name] = value
    }
    return fields
  }

  /// The decoded value of `name="..."` (or single quotes) in a start tag's attributes.
  private static func attribute(_ name: String, in tag: [UInt8]) -> String?? {
    let key = Array(name.utf8)
    var j = 0
    while j + key.count + 2 <= tag.count {
      let before = j == 0 ? UInt8(ascii: " ") : tag[j - 1]
      if [0x20, 0x09, 0x0A, 0x0D].contains(before), Array(tag[j..<(j + key.count)]) == key {
        var k = j + key.count
        while k < tag.count, tag[k] == 0x20 { k += 1 }
        guard k < tag.count, tag[k] == UInt8(ascii: "=") else {
          j += 1
          continue
        }
        k += 1
        while k < tag.count, tag[k] == 0x20 { k += 1 }
        guard k < tag.count, tag[k] == UInt8(ascii: "\"") || tag[k] == UInt8(ascii: "'") else { return nil }
        let quote = tag[k]
        guard let endQuote = tag[(k + 1)...].firstIndex(of: quote) else { return nil }
        return .some(decode(Array(tag[(k + 1)..<endQuote])))
      }
      j += 1
    }
    return nil
  }

  /// XML character data: entities decoded, valid UTF-8 required.
  private static func decode(_ bytes: [UInt8]) -> String? {
    guard bytes.count <= 4096, let text = String(validating: bytes, as: UTF8.self) else { return nil }
    guard text.contains("&") else { return text }
    var out = ""
    var rest = Substring(text)
    while let amp = rest.firstIndex(of: "&") {
      out += rest[..<amp]
      guard let semicolon = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semicolon) <= 10 else {
        return nil
      }
      let entity = rest[rest.index(after: amp)..<semicolon]
      switch entity {
      case "amp": out += "&"
      case "lt": out += "<"
      case "gt": out += ">"
      case "quot": out += "\""
      case "apos": out += "'"
      default:
        let number: UInt32?
        if entity.hasPrefix("#x") {
          number = UInt32(entity.dropFirst(2), radix: 16)
        } else if entity.hasPrefix("#") {
          number = UInt32(entity.dropFirst(), radix: 10)
        } else {
          number = nil
        }
        guard let number, let scalar = Unicode.Scalar(number) else { return nil }
        out.unicodeScalars.append(scalar)
      }
      rest = rest[rest.index(after: semicolon)...]
    }
    return out + rest
  }

  private static func trim(_ s: String) -> String {
    var scalars = Substring(s).unicodeScalars
    while let f = scalars.first, f == " " || f == "\t" || f == "\n" || f == "\r" { scalars.removeFirst() }
    while let l = scalars.last, l == " " || l == "\t" || l == "\n" || l == "\r" { scalars.removeLast() }
    return String(scalars)
  }
}
