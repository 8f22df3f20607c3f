import Glibc
import Logging

/// Sends log lines to syslog (and so to the journal) once the mount runs in the background.
public struct SyslogLogHandler: LogHandler {
  public var logLevel: Logger.Level
  public var metadata: Logger.Metadata = [:]
  private let label: String

  public init(label: String, level: Logger.Level) {
    self.label = label
    self.logLevel = level
  }

  public static func open() { openlog("edgemount", LOG_PID, LOG_DAEMON) }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    let priority: Int32
    switch event.level {
    case .trace, .debug: priority = LOG_DEBUG
    case .info: priority = LOG_INFO
    case .notice: priority = LOG_NOTICE
    case .warning: priority = LOG_WARNING
    case .error: priority = LOG_ERR
    case .critical: priority = LOG_CRIT
    }
    let text = "[\(label)] \(event.message)"
    withVaList([text]) { vsyslog(priority, "%s", $0) }
  }
}
