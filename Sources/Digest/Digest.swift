import COpenSSL
import Foundation

/// SHA-256 and HMAC-SHA256 from OpenSSL, as SigV4 needs them.
public enum Digest {
  public static func sha256(_ data: some ContiguousBytes) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
    data.withUnsafeBytes { buf in
      _ = SHA256(buf.baseAddress?.assumingMemoryBound(to: UInt8.self), buf.count, &out)
    }
    return out
  }

  public static func sha256(_ string: String) -> [UInt8] { sha256(Array(string.utf8)) }

  public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    key.withUnsafeBufferPointer { k in
      message.withUnsafeBufferPointer { m in
        _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length)
      }
    }
    return Array(out.prefix(Int(length)))
  }

  public static func md5(_ data: some ContiguousBytes) -> [UInt8] { digest(data, EVP_md5()) }

  /// SHA-1, as the AWS SSO token cache names its files.
  public static func sha1(_ data: some ContiguousBytes) -> [UInt8] { digest(data, EVP_sha1()) }

  private static func digest(_ data: some ContiguousBytes, _ type: OpaquePointer?) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    data.withUnsafeBytes { buf in
      _ = EVP_Digest(buf.baseAddress, buf.count, &out, &length, type, nil)
    }
    return Array(out.prefix(Int(length)))
  }

  public static func hex(_ bytes: [UInt8]) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var chars = [UInt8]()
    chars.reserveCapacity(bytes.count * 2)
    for b in bytes {
      chars.append(digits[Int(b >> 4)])
      chars.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: chars, as: UTF8.self)
  }
}
