import CANedge
import DemoFleet
import Foundation
import Locking
import TestSupport
import Testing

@testable import FileSystem

/// The header index on the in-memory S3: one read per log and ETag, however many ask at once.
@Suite struct HeaderIndexTests {
  /// Eight threads asking for the same unread header while its GET is slow make one GET, and
  /// every one of them gets the header's time.
  @Test func callersAskingForAHeaderUnderWayWaitForItsReadInsteadOfMakingTheirOwn() throws {
    let server = InMemoryS3()
    let name = SampleLog.name(split: 1, uploaded: 1_764_547_200)
    let key = "A1B2C3D4/00000001/" + name
    let bytes = try SampleLog.bytes(sessionStart: 1_764_540_000, offset: 12.5)
    let etag = server.put("fleet", key, bytes)
    server.faults.withLock { $0 = { method, _ in method == "GET" ? .delay(0.3) : nil } }
    let index = HeaderIndex(store: nil, records: [])
    let client = server.client(bucket: "fleet")
    let times = Locked<[LogTime]>([])
    let group = DispatchGroup()
    for _ in 0..<8 {
      group.enter()
      Thread.detachNewThread {
        let time = index.time(key: key, etag: etag, size: UInt64(bytes.count), name: LogFileName(name)!, s3: client)
        times.withLock { $0.append(time) }
        group.leave()
      }
    }
    group.wait()
    #expect(server.requestLog.filter { $0.hasPrefix("GET ") }.count == 1)
    let all = times.withLock { $0 }
    #expect(all.count == 8 && Set(all.map(\.sessionStart)).count == 1)
    #expect(all.first?.sessionStart == 1_764_540_000 * 1_000_000_000)
    #expect(index.snapshot.counts.read == 1 && index.snapshot.counts.pending == 0)
  }
}
