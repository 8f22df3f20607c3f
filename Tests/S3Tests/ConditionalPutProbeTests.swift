import Foundation
import S3
import TestSupport
import Testing

/// `S3Client.probeConditionalPut`: it tells a server that honours If-Match on PUT from one
/// that ignores it, and leaves the bucket as it found it either way.
@Suite struct ConditionalPutProbeTests {
  func server() -> (InMemoryS3, S3Client) {
    let s = InMemoryS3(buckets: ["b"])
    _ = s.put("b", "A1B2C3D4/device.json", Array("{}".utf8))
    return (s, s.client(bucket: "b", retryPolicy: RetryPolicy(maxAttempts: 1)))
  }

  func keys(_ s: InMemoryS3, _ client: S3Client) throws -> [String] {
    try client.listAll(prefix: "", delimiter: nil).objects.map(\.key)
  }

  @Test func aServerThatHonoursIfMatchIsFoundAndNothingIsWritten() throws {
    let (s, client) = server()
    #expect(client.probeConditionalPut() == .honoured)
    #expect(try keys(s, client) == ["A1B2C3D4/device.json"])
  }

  @Test func aServerThatIgnoresIfMatchIsFoundAndItsProbeObjectIsDeleted() throws {
    let (s, client) = server()
    s.ignoresConditionalPut.withLock { $0 = true }
    #expect(client.probeConditionalPut(prefix: "fleet/") == .ignored)
    #expect(try keys(s, client) == ["A1B2C3D4/device.json"])
    #expect(s.requestLog.contains { $0.hasPrefix("DELETE") && $0.contains("fleet/.edgemount-probe-") }, "\(s.requestLog)")
  }

  @Test func noPermissionToWriteIsUnknownNotHonoured() throws {
    let (s, client) = server()
    s.faults.withLock { $0 = { method, _ in method == "PUT" ? .status(403, "AccessDenied") : nil } }
    let result = client.probeConditionalPut()
    #expect(result == .unknown("no permission to write"))
    #expect(result.startupNote.contains("HEAD right before its PUT"))
  }
}
