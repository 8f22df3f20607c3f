import S3
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
