import COpenSSL

/// AES-256-GCM and PBKDF2-HMAC-SHA256 from OpenSSL, as CANedge devices encrypt logs (`.MFE`):
/// a key derived from the device's password, a 12-byte IV, the container's header as
/// authenticated data and a 16-byte tag.
public enum AESGCM {
  public struct Failure: Error, Equatable, CustomStringConvertible {
    public let description: String
  }

  /// PBKDF2-HMAC-SHA256 of `password` (32 bytes by default: an AES-256 key).
  public static func pbkdf2SHA256(password: String, salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: length)
    let bytes = Array(password.utf8)
    bytes.withUnsafeBufferPointer { p in
      salt.withUnsafeBufferPointer { s in
        p.withMemoryRebound(to: CChar.self) { chars in
          _ = PKCS5_PBKDF2_HMAC(
            chars.baseAddress, Int32(chars.count), s.baseAddress, Int32(s.count), Int32(iterations), EVP_sha256(),
            Int32(length), &out)
        }
      }
    }
    return out
  }

  /// Decrypts and authenticates: the plaintext, or `Failure` when the tag does not match (a
  /// wrong key, or bytes changed). Nothing of the plaintext is returned unless the tag holds.
  public static func open(
    key: [UInt8], iv: [UInt8], aad: ArraySlice<UInt8>, ciphertext: ArraySlice<UInt8>, tag: [UInt8]
  ) throws(Failure) -> [UInt8] {
    guard key.count == 32, iv.count == 12, tag.count == 16 else { throw Failure(description: "bad AES-GCM parameters") }
    guard let ctx = EVP_CIPHER_CTX_new() else { throw Failure(description: "no cipher context") }
    defer { EVP_CIPHER_CTX_free(ctx) }
    var out = [UInt8](repeating: 0, count: ciphertext.count + 16)
    var length: Int32 = 0
    var total = 0
    var ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, iv) == 1
    if ok, !aad.isEmpty {
      ok = aad.withUnsafeBufferPointer { EVP_DecryptUpdate(ctx, nil, &length, $0.baseAddress, Int32($0.count)) } == 1
    }
    // In pieces of at most 1 GiB (the length is an Int32).
    var start = ciphertext.startIndex
    while ok, start < ciphertext.endIndex {
      let end = min(ciphertext.endIndex, start + (1 << 30))
      ok =
        ciphertext[start..<end].withUnsafeBufferPointer { c in
          out.withUnsafeMutableBufferPointer { o in
            EVP_DecryptUpdate(ctx, o.baseAddress! + total, &length, c.baseAddress, Int32(c.count))
          }
        } == 1
      total += Int(length)
      start = end
    }
    var expected = tag
    if ok { ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, &expected) == 1 }
    if ok {
      ok = out.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(ctx, $0.baseAddress! + total, &length) } == 1
    }
    guard ok else { throw Failure(description: "the GCM tag does not match: wrong password, or the file is damaged") }
    total += Int(length)
    out.removeLast(out.count - total)
    return out
  }

  /// Encrypts (the tests' own encoder of `.MFE` files): ciphertext and tag.
  public static func seal(key: [UInt8], iv: [UInt8], aad: [UInt8], plaintext: [UInt8]) -> (ciphertext: [UInt8], tag: [UInt8]) {
    let ctx = EVP_CIPHER_CTX_new()
    defer { EVP_CIPHER_CTX_free(ctx) }
    var out = [UInt8](repeating: 0, count: plaintext.count + 16)
    var length: Int32 = 0
    var total = 0
    _ = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, iv)
    if !aad.isEmpty { _ = EVP_EncryptUpdate(ctx, nil, &length, aad, Int32(aad.count)) }
    _ = out.withUnsafeMutableBufferPointer { EVP_EncryptUpdate(ctx, $0.baseAddress, &length, plaintext, Int32(plaintext.count)) }
    total = Int(length)
    _ = out.withUnsafeMutableBufferPointer { EVP_EncryptFinal_ex(ctx, $0.baseAddress! + total, &length) }
    total += Int(length)
    var tag = [UInt8](repeating: 0, count: 16)
    _ = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, &tag)
    return (Array(out.prefix(total)), tag)
  }

  /// The plaintext of GCM ciphertext bytes starting at `offset` (a multiple of 16 or not),
  /// without the tag: GCM encrypts in counter mode, the first block under counter 2 (for a
  /// 12-byte IV). For bytes whose whole file was authenticated before, or for a look at a
  /// prefix whose wrong bytes do no harm (dating a log: a wrong key gives no MF4 header).
  public static func decryptUnauthenticated(key: [UInt8], iv: [UInt8], offset: UInt64, ciphertext: ArraySlice<UInt8>)
    -> [UInt8]
  {
    let block = offset / 16
    let skip = Int(offset % 16)
    var counter = iv
    let value = UInt32(truncatingIfNeeded: 2 + block)
    counter += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    let ctx = EVP_CIPHER_CTX_new()
    defer { EVP_CIPHER_CTX_free(ctx) }
    _ = EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nil, key, counter)
    var length: Int32 = 0
    // Step over the part of the first block before `offset`.
    if skip > 0 {
      var scratch = [UInt8](repeating: 0, count: skip)
      let zeros = scratch
      _ = EVP_EncryptUpdate(ctx, &scratch, &length, zeros, Int32(skip))
    }
    var out = [UInt8](repeating: 0, count: ciphertext.count)
    _ = ciphertext.withUnsafeBufferPointer { c in
      EVP_EncryptUpdate(ctx, &out, &length, c.baseAddress, Int32(c.count))
    }
    return out
  }
}
