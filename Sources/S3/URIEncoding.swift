/// Percent-encoding as SigV4 and S3 want it: every byte except the unreserved
/// characters `A-Z a-z 0-9 - _ . ~` is `%XX` (upper-case hex); `/` is kept in object key paths.
public enum URIEncoding {
  public static func encode(_ string: String, keepSlash: Bool = false) -> String {
    let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
    var out = [UInt8]()
    out.reserveCapacity(string.utf8.count)
    for b in string.utf8 {
      switch b {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
        UInt8(ascii: "."), UInt8(ascii: "~"):
        out.append(b)
      case UInt8(ascii: "/") where keepSlash:
        out.append(b)
      default:
        out.append(UInt8(ascii: "%"))
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 0x0f)])
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes `%XX` escapes (and `+` as space when `plusAsSpace`); invalid escapes are kept as written.
  /// Bytes that are not valid UTF-8 after decoding are replaced by U+FFFD.
  public static func decode(_ string: String, plusAsSpace: Bool = false) -> String {
    var out = [UInt8]()
    let bytes = Array(string.utf8)
    var i = 0
    func hexValue(_ c: UInt8) -> UInt8? {
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
      default: return nil
      }
    }
    while i < bytes.count {
      let b = bytes[i]
      if b == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) {
        out.append(h << 4 | l)
        i += 3
      } else if b == UInt8(ascii: "+"), plusAsSpace {
        out.append(UInt8(ascii: " "))
        i += 1
      } else {
        out.append(b)
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
