import FileSystem
import Glibc
import S3
import Testing

@Suite struct FSErrorTests {
  @Test func mapsEachErrorToTheErrnoProgramsExpect() {
    #expect(FSError.notFound.errno == ENOENT)
    #expect(FSError.readOnly.errno == EROFS)
    #expect(FSError.accessDenied("x").errno == EACCES)
    #expect(FSError.invalid("x").errno == EINVAL)
    #expect(FSError.conflict("x").errno == EBUSY)
    #expect(FSError.s3(.transport(TransportError(kind: .timeout, message: ""))).errno == EIO)
    #expect(FSError.s3(.service(ServiceError(status: 503, code: "SlowDown", message: ""))).errno == EIO)
    #expect(FSError.s3(.service(ServiceError(status: 412, code: "PreconditionFailed", message: ""))).errno == EBUSY)
    #expect(FSError.s3(.service(ServiceError(status: 404, code: "NoSuchKey", message: ""))).errno == ENOENT)
  }

  @Test func wrapsS3ErrorsAndKeepsFSErrors() {
    #expect(FSError(S3Error.invalidResponse("x")) == .s3(.invalidResponse("x")))
    #expect(FSError(FSError.notDirectory) == .notDirectory)
  }
}
