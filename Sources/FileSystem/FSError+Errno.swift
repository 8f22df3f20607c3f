import Glibc
import S3

extension FSError {
  /// The errno a program sees. The one place where errors become errno values.
  public var errno: Int32 {
    switch self {
    case .notFound: return ENOENT
    case .notDirectory: return ENOTDIR
    case .isDirectory: return EISDIR
    case .accessDenied: return EACCES
    case .readOnly, .readOnlyView: return EROFS
    case .invalid: return EINVAL
    case .conflict: return EBUSY
    case .notSupported: return ENOTSUP
    case .notPermitted: return EPERM
    case .tooLarge: return EFBIG
    case .nameTooLong: return ENAMETOOLONG
    case .exists: return EEXIST
    case .crossDevice: return EXDEV
    case .badHandle: return EBADF
    case .undecodable: return EIO
    case .s3(let e):
      if e.isNotFound { return ENOENT }
      if e.isPreconditionFailed { return EBUSY }
      if e.isAuthenticationFailure { return EACCES }
      return EIO
    }
  }

  /// Wraps any error thrown below the filesystem layer.
  public init(_ error: any Error) {
    switch error {
    case let e as FSError: self = e
    case let e as S3Error: self = .s3(e)
    default: self = .invalid("\(error)")
    }
  }
}
