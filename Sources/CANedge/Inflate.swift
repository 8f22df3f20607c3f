import CZlib

/// zlib's inflate over bytes in memory, bounded in output: the data of MDF 4.2 `##DZ` blocks
/// (a zlib stream, RFC 1950).
enum Inflate {
  enum Failure: Error, Equatable {
    /// The stream is not zlib, or is damaged.
    case corrupt
  }

  /// Inflates `input`, stopping once `limit` bytes are out or the input ends. A stream cut
  /// short gives what it decodes to so far (the caller asks for a prefix); a damaged one throws.
  static func prefix(of input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
    guard limit > 0, !input.isEmpty else { return [] }
    var stream = z_stream()
    guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw .corrupt }
    defer { inflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: limit)
    var status: Int32 = Z_OK
    var input = input
    input.withUnsafeMutableBufferPointer { inBuffer in
      output.withUnsafeMutableBufferPointer { outBuffer in
        stream.next_in = inBuffer.baseAddress
        stream.avail_in = UInt32(clamping: inBuffer.count)
        stream.next_out = outBuffer.baseAddress
        stream.avail_out = UInt32(clamping: outBuffer.count)
        status = inflate(&stream, Z_NO_FLUSH)
      }
    }
    // Z_BUF_ERROR: the input ended before the stream did, or the output is full: a prefix.
    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { throw .corrupt }
    return Array(output[0..<Int(stream.total_out)])
  }
}
