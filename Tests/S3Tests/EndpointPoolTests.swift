import Foundation
import Locking
import TestSupport
import Testing

@testable import S3

/// Several gateways of one store: requests stay on a healthy one, a failing one is left alone
/// for a while and tried again; throttling slows every request down. On a manual clock.
@Suite struct EndpointPoolTests {
  let clock = ManualClock()
  func endpoint(_ port: Int) -> S3Endpoint { try! S3Endpoint(url: "http://10.0.0.1:\(port)", region: "us-east-1") }

  @Test func aRefusingEndpointIsLeftAloneThenTriedAgain() {
    let pool = EndpointPool([endpoint(1), endpoint(2)], clock: clock)
    #expect(pool.pick().index == 0)
    #expect(pool.report(0, .refused) != nil)
    #expect(pool.pick().index == 1)
    #expect(pool.health.map(\.state) == ["backing_off", "up"])
    #expect(pool.health[0].retryInSeconds == 5)
    // Requests stay on the healthy one, even after the back-off ends (warm connections)...
    clock.advance(by: .seconds(5))
    #expect(pool.health.map(\.state) == ["retry_due", "up"])
    #expect(pool.pick().index == 1)
    // ... until it fails; then the first is tried again, and a failure there doubles its wait.
    pool.report(1, .refused)
    #expect(pool.pick().index == 0)
    pool.report(0, .refused)
    #expect(pool.health[0].retryInSeconds == 10)
    // Every endpoint down: the one back soonest.
    #expect(pool.pick().index == 1)
    pool.report(1, .answered)
    #expect(pool.health.map(\.state) == ["backing_off", "up"])
    #expect(pool.health.map(\.failures) == [2, 1])
  }

  @Test func timeoutsAndServerErrorsCountThreeInARow() {
    let pool = EndpointPool([endpoint(1), endpoint(2)], clock: clock)
    pool.report(0, .failed)
    pool.report(0, .failed)
    pool.report(0, .answered)
    pool.report(0, .failed)
    pool.report(0, .failed)
    #expect(pool.pick().index == 0, "an answer in between resets the count")
    pool.report(0, .failed)
    #expect(pool.pick().index == 1)
  }

  @Test func oneEndpointIsNeverLeftAlone() {
    let pool = EndpointPool([endpoint(1)], clock: clock)
    for _ in 0..<5 { pool.report(0, .refused) }
    #expect(pool.health.map(\.state) == ["up"])
    #expect(pool.pick().index == 0)
  }

  @Test func throttlingSlowsEveryRequestAndEasesOff() {
    let throttle = Throttle(clock: clock)
    #expect(throttle.wait(unit: 0.99) == nil)
    throttle.slowDown()
    throttle.slowDown()
    #expect(throttle.level == 2)
    let wait = throttle.wait(unit: 0.999)
    #expect(wait != nil && wait! <= .milliseconds(200) && wait! > .milliseconds(190))
    #expect(throttle.wait(unit: 0) == .zero)
    throttle.succeeded()
    #expect(throttle.level == 2, "no easing inside the window")
    clock.advance(by: .milliseconds(200))
    throttle.succeeded()
    throttle.succeeded()
    #expect(throttle.level == 0)
    #expect(throttle.wait(unit: 0.5) == nil)
    for _ in 0..<20 { throttle.slowDown() }
    #expect(throttle.wait(unit: 0.999)! <= .seconds(5))
  }

  /// A transport in front of the in-memory server that refuses connections to one host.
  final class RefusingHost: HTTPTransport, Sendable {
    let inner: InMemoryS3
    let refused = Locked<Set<String>>([])
    let seen = Locked<[String]>([])
    init(_ inner: InMemoryS3) { self.inner = inner }
    func perform(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
      let host = URLComponents(string: request.url)?.port.map(String.init) ?? "?"
      seen.withLock { $0.append(host) }
      if refused.withLock({ $0.contains(host) }) { throw TransportError(kind: .connect, message: "refused") }
      return try inner.perform(request)
    }
  }

  @Test func aClientGoesOnThroughTheOtherGatewayAndSaysSo() throws {
    let server = InMemoryS3(buckets: ["b"])
    server.put("b", "k", [1, 2, 3])
    let transport = RefusingHost(server)
    transport.refused.withLock { $0 = ["1"] }
    let client = S3Client(
      bucket: "b", endpoint: endpoint(1),
      credentials: RefreshingCredentials(Credentials(accessKeyID: "A", secretAccessKey: "s", source: "t")),
      transport: transport, retryPolicy: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)), clock: clock,
      moreEndpoints: [endpoint(2)])
    #expect(try client.getObject(key: "k") == [1, 2, 3])
    #expect(transport.seen.withLock { $0 } == ["1", "2"])
    #expect(try client.getObject(key: "k") == [1, 2, 3])
    #expect(transport.seen.withLock { $0 } == ["1", "2", "2"], "the refusing gateway is left alone")
    #expect(client.endpoints.health.map(\.state) == ["backing_off", "up"])
    // Both refuse: the request fails within its budget, and says why.
    transport.refused.withLock { $0 = ["1", "2"] }
    #expect(throws: S3Error.self) { try client.getObject(key: "k") }
  }
}
