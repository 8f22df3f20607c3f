import Foundation
import S3
import TestSupport
import Testing

/// The connections a far mount opens as it comes up (`S3Client.warmConnections`).
@Suite struct WarmConnectionsTests {
  /// Each HEAD is sent once; a server or policy that refuses HEAD of the bucket (a grant to
  /// list under a prefix only) costs no retry and counts no failure of the mount's.
  @Test(arguments: [nil, 403, 501])
  func warmUpHeadsAreSentOnceAndARefusalIsNoFailure(refusal: Int?) throws {
    let server = InMemoryS3()
    if let refusal {
      server.faults.withLock {
        $0 = { method, key in
          method == "HEAD" && key == nil ? .status(refusal, refusal == 403 ? "AccessDenied" : "NotImplemented") : nil
        }
      }
    }
    let client = server.client(bucket: "fleet")
    client.warmConnections(6)
    try waitUntil("six HEADs sent", timeout: 10) { client.counters.snapshot.head == 6 }
    Thread.sleep(forTimeInterval: 0.1)
    let counts = client.counters.snapshot
    #expect(counts.head == 6 && counts.retries == 0 && counts.failures == 0, "\(counts)")
    if refusal == nil { #expect(server.requestLog.filter { $0 == "HEAD /" }.count == 6) }
  }
}
