import Locking
import S3
import TestSupport
import Testing

@Suite struct RetryPolicyTests {
  let policy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(1), deadline: .seconds(5))

  @Test func retriesServerFaultsThrottlingAndNetworkErrors() {
    #expect(policy.isRetryable(.service(ServiceError(status: 500, code: "InternalError", message: ""))))
    #expect(policy.isRetryable(.service(ServiceError(status: 503, code: "SlowDown", message: ""))))
    #expect(policy.isRetryable(.service(ServiceError(status: 400, code: "RequestTimeout", message: ""))))
    #expect(policy.isRetryable(.transport(TransportError(kind: .reset, message: ""))))
    #expect(policy.isRetryable(.transport(TransportError(kind: .timeout, message: ""))))
    #expect(policy.isRetryable(.transport(TransportError(kind: .connect, message: ""))))
  }

  /// Retries scale with the link: a retry 150 ms away waits at least a round trip's worth of
  /// backoff and may take 100 round trips; on loopback the policy is unchanged.
  @Test func backoffScalesWithTheRoundTrip() {
    #expect(policy.scaled(toRoundTrip: nil) == policy)
    #expect(policy.scaled(toRoundTrip: .microseconds(300)) == policy)
    let far = policy.scaled(toRoundTrip: .milliseconds(150))
    #expect(far.baseDelay == .milliseconds(150) && far.maxDelay == .milliseconds(1200) && far.deadline == .seconds(15))
    #expect(far.maxAttempts == policy.maxAttempts)
    #expect(far.delay(beforeAttempt: 3, unit: 0.999) > policy.delay(beforeAttempt: 3, unit: 0.999))
    #expect(RetryPolicy.none.scaled(toRoundTrip: .seconds(1)) == RetryPolicy.none)
  }

  /// The client measures the round trip from its answers' first-byte waits, and the clients
  /// made from it share the estimate.
  @Test func theClientMeasuresTheRoundTripFromItsAnswers() throws {
    let server = InMemoryS3()
    server.put("b", "k", Array("hello".utf8))
    server.roundTrip.withLock { $0 = 0.05 }
    let client = server.client(bucket: "b")
    #expect(client.roundTrip.current == nil)
    _ = try client.getWholeObject(key: "k")
    #expect(client.roundTrip.current == .milliseconds(50))
    // Clients made from it share the estimate.
    #expect(client.with(retryPolicy: .none).roundTrip.current == .milliseconds(50))
  }

  @Test func doesNotRetryClientErrors() {
    for (status, code) in [
      (403, "SignatureDoesNotMatch"), (404, "NoSuchKey"), (412, "PreconditionFailed"), (400, "InvalidArgument"),
    ] {
      #expect(!policy.isRetryable(.service(ServiceError(status: status, code: code, message: ""))))
    }
    #expect(!policy.isRetryable(.transport(TransportError(kind: .tls, message: ""))))
  }

  @Test func backoffGrowsExponentiallyUpToTheCapWithJitter() {
    #expect(policy.delay(beforeAttempt: 2, unit: 0.999) <= .milliseconds(100))
    #expect(policy.delay(beforeAttempt: 3, unit: 0.999) > .milliseconds(150))
    #expect(policy.delay(beforeAttempt: 3, unit: 0.999) <= .milliseconds(200))
    #expect(policy.delay(beforeAttempt: 20, unit: 0.999) <= .seconds(1))
    #expect(policy.delay(beforeAttempt: 20, unit: 0) == .zero)
  }

  @Test func attemptsAreBoundedInCountAndTime() {
    #expect(policy.allowsAttempt(4, elapsed: .seconds(1)))
    #expect(!policy.allowsAttempt(5, elapsed: .seconds(1)))
    #expect(!policy.allowsAttempt(2, elapsed: .seconds(6)))
    #expect(RetryPolicy.none.allowsAttempt(1, elapsed: .zero) && !RetryPolicy.none.allowsAttempt(2, elapsed: .zero))
  }
}

/// The client's retries on its injected clock: a manual clock lets the back-off and the
/// deadline be checked without waiting for them.
@Suite struct ClientRetryClockTests {
  @Test func retriesWaitTheirBackOffOnTheClientsClock() throws {
    let server = InMemoryS3()
    let clock = ManualClock()
    let policy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(400), maxDelay: .seconds(2), deadline: .seconds(60))
    let client = server.client(bucket: "b", retryPolicy: policy, clock: clock)
    server.put("b", "k", [1, 2, 3])
    let failures = Locked(2)
    server.faults.withLock {
      $0 = { _, _ in
        failures.withLock { left in
          guard left > 0 else { return nil }
          left -= 1
          return .status(500, "InternalError")
        }
      }
    }
    #expect(try client.getObject(key: "k") == [1, 2, 3])
    // (A server error, not throttling: a throttling answer also opens the mount's shared
    // window, `EndpointPoolTests`.) Two waits, each within the policy's bound for its attempt, taken on the clock.
    #expect(clock.slept.count == 2)
    #expect(clock.slept[0] <= .milliseconds(400))
    #expect(clock.slept[1] <= .milliseconds(800))
    #expect(client.counters.snapshot.retries == 2)
  }

  @Test func aDeadlinePassedOnTheClockEndsTheRetries() {
    let server = InMemoryS3()
    let clock = ManualClock()
    // Many attempts allowed, and back-offs of up to 10 s against a deadline of 1 s.
    let policy = RetryPolicy(maxAttempts: 10, baseDelay: .seconds(10), maxDelay: .seconds(10), deadline: .seconds(1))
    let client = server.client(bucket: "b", retryPolicy: policy, clock: clock)
    server.put("b", "k", [1])
    server.faults.withLock { $0 = { _, _ in .status(500, "InternalError") } }
    #expect(throws: S3Error.self) { try client.getObject(key: "k") }
    // Retries went on while the clock was before the deadline, and stopped once a back-off
    // took it past (or the attempts ran out).
    let slept = clock.slept
    let total = slept.reduce(Duration.zero, +)
    #expect(slept.dropLast().reduce(Duration.zero, +) < .seconds(1))
    #expect(total >= .seconds(1) || slept.count == 9, "slept \(slept)")
  }
}
