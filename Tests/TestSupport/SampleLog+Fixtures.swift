import DemoFleet
import Foundation

extension SampleLog {
  /// A copy of the fixture sample with its recording time rewritten (see `rewrite`).
  public static func bytes(sessionStart: Int64, offset: Double, timeZoneMinutes: Int16 = 0) throws -> [UInt8] {
    rewrite(try Fixtures.bytes(fixture), sessionStart: sessionStart, offset: offset, timeZoneMinutes: timeZoneMinutes)
  }
}
