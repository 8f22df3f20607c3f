import Foundation

/// The fault-injecting proxy (`Tests/Support/fault_proxy.py`) between a client and the test
/// S3 server, on loopback, for a bounded time.
public final class FaultProxy: @unchecked Sendable {
  public let endpoint: String
  private let control: String
  private let process: BackgroundProcess

  /// In front of the test S3 server, or of `upstreamPort` on loopback.
  public init(port: Int, lifetime: Int = 300, upstreamPort: Int? = nil) throws {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Support/fault_proxy.py").path
    control = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID()).json").path
    try "{}".write(toFile: control, atomically: true, encoding: .utf8)
    let upstream = try upstreamPort ?? URL(string: try TestS3.endpointURL)!.port!
    process = try BackgroundProcess(["/usr/bin/python3", script, String(port), String(upstream), control, String(lifetime)])
    endpoint = "http://127.0.0.1:\(port)"
    for _ in 0..<100 where !process.output.contains("ready") { Thread.sleep(forTimeInterval: 0.05) }
  }

  /// Faults at `rate` (0…1), drawn from `faults` ("503", "500", "reset", "stall", "short", "badlength").
  public func inject(rate: Double, faults: [String], stallSeconds: Double = 20) throws {
    let list = faults.map { "\"\($0)\"" }.joined(separator: ",")
    try "{\"rate\": \(rate), \"faults\": [\(list)], \"stall_seconds\": \(stallSeconds)}".write(
      toFile: control, atomically: true, encoding: .utf8)
  }

  /// "normal", "down" (every request refused) or "frozen" (accepted, never answered).
  public func set(mode: String) throws {
    try "{\"mode\": \"\(mode)\"}".write(toFile: control, atomically: true, encoding: .utf8)
  }

  /// Listings asking for more than `keys` keys a page get 400 InvalidArgument, as some
  /// S3-compatible servers answer.
  public func limitListingPages(to keys: Int) throws {
    try "{\"max_keys_limit\": \(keys)}".write(toFile: control, atomically: true, encoding: .utf8)
  }

  /// The answers given so far, by fault ("503", …) and "ok" for those forwarded (written by
  /// the proxy every half second).
  public func counts() -> [String: Int] {
    guard let data = FileManager.default.contents(atPath: control + ".counts"),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Int]
    else { return [:] }
    return object
  }

  public func stop() {
    process.stop()
    try? FileManager.default.removeItem(atPath: control)
    try? FileManager.default.removeItem(atPath: control + ".counts")
  }

  deinit { stop() }
}
