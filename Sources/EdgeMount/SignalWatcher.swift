import Foundation
import Glibc

/// Waits for SIGINT, SIGTERM, SIGHUP (unmount) and SIGUSR1 (log the counters) on a thread of its own (`sigwait`) and calls back.
///
/// `blockSignals()` must run first thing in `main`, before any thread starts, so every thread
/// inherits the blocked mask and only this watcher receives them.
final class SignalWatcher: Sendable {
  static let handled = [SIGINT, SIGTERM, SIGHUP, SIGUSR1]
  private let action: @Sendable (Int32) -> Void

  init(action: @escaping @Sendable (Int32) -> Void) { self.action = action }

  static func blockSignals() {
    // A shell starts background jobs with SIGINT ignored; an ignored signal never reaches sigwait.
    for s in handled { signal(s, SIG_DFL) }
    var set = sigset_t()
    sigemptyset(&set)
    for s in handled { sigaddset(&set, s) }
    pthread_sigmask(SIG_BLOCK, &set, nil)
    signal(SIGPIPE, SIG_IGN)
  }

  func start() {
    let action = self.action
    let thread = Thread {
      var set = sigset_t()
      sigemptyset(&set)
      for s in SignalWatcher.handled { sigaddset(&set, s) }
      var received: Int32 = 0
      while sigwait(&set, &received) == 0 {
        action(received)
      }
    }
    thread.name = "edgemount-signals"
    thread.start()
  }
}
