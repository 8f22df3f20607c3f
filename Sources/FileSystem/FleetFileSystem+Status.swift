import Foundation
import S3

extension FleetFileSystem {
  /// The text of a file in `.edgemount/`, generated on each open.
  func statusText(_ file: StatusFile) -> String {
    switch file {
    case .status: return statusReport()
    case .errors: return errors.text
    case .changes: return journal.csv
    case .duplicates: return duplicatesReport()
    case .devices: return devicesReport()
    case .days:
      let report = byDate.daysReport()
      reportSizes.withLock { $0[.days] = report.utf8.count }
      return report
    }
  }

  /// Waits until the blocks queued for the disk cache are written (at unmount, and in tests).
  public func drainCacheWrites() { fetcher.disk?.drainWrites() }

  /// Waits (up to 10 s) for the shared index merges under way (at unmount, and in tests).
  public func drainSharedIndex() { shared?.drain(timeout: .seconds(10)) }

  /// `.edgemount/status` as text (also logged on SIGUSR1).
  public var statusReportText: String { statusReport() }

  /// One line per endpoint of the store: its state, requests and failures; and the shared
  /// throttling level.
  private var endpointReport: String {
    let lines = s3.endpoints.health.enumerated().map { i, h in
      "endpoint_\(i + 1): \(h.endpoint) \(h.state) requests=\(h.requests) failures=\(h.failures)"
        + (h.state == "up" ? "" : " retry_in_seconds=\(h.retryInSeconds)")
    }
    return (lines + ["throttle_level: \(s3.throttleLevel)"]).joined(separator: "\n")
  }

  private func statusReport() -> String {
    let c = s3.counters.snapshot
    let (inodes, metadata, listed) = tree.sizes
    let handles = self.handles.count.files
    let uptime = Int(Date().timeIntervalSince(startedAt))
    let h = headers.snapshot
    let k = s3.credentials.status
    return """
      endpoint: \(settings.endpointDescription)
      \(endpointReport)
      bucket: \(s3.bucket)
      prefix: \(settings.rootPrefix.isEmpty ? "(none)" : settings.rootPrefix)
      read_only: \(settings.readOnly)
      conditional_put: \(settings.conditionalPut)
      bucket_versioning: \(history.versioning.rawValue)
      credentials_source: \(k.source)
      credentials_expire_at: \(k.expiresAt.map { ISOTime.string(Int64($0.timeIntervalSince1970)) } ?? "never")
      credentials_refreshed: \(k.refreshed)
      credentials_refresh_failed: \(k.refreshFailed)
      clock_offset_seconds: \(Int(s3.clockOffsetSeconds.rounded()))
      uptime_seconds: \(uptime)
      list_ttl_seconds: \(settings.listTTL.components.seconds)
      heartbeat_ttl_seconds: \(settings.heartbeatTTL.components.seconds)
      inodes: \(inodes)
      inode_table_bytes: \(metadata)
      directories_listed: \(listed)
      open_files: \(handles)
      \(cacheReport)
      requests_get: \(c.get)
      requests_head: \(c.head)
      requests_list: \(c.list)
      requests_put: \(c.put)
      requests_delete: \(c.delete)
      requests_bucket_config: \(c.bucketConfig)
      requests_retried: \(c.retries)
      requests_failed: \(c.failures)
      requests_not_found: \(c.notFound)
      requests_precondition_failed: \(c.preconditionFailed)
      connections_opened: \(c.connectionsOpened)
      bytes_downloaded: \(c.bytesDownloaded)
      bytes_uploaded: \(c.bytesUploaded)
      headers_read: \(h.counts.read)
      headers_cached: \(h.cached)
      headers_loaded_from_cache_dir: \(h.counts.loaded)
      headers_unreadable: \(h.counts.unreadable)
      headers_pending: \(h.counts.pending)
      \(sharedIndexReport)
      decode: \(decoded == nil ? "off" : "on")
      decoded_bytes_in_memory: \(decoded?.heldBytes ?? 0) of \(decoded == nil ? 0 : DecodedLogs.budget)
      changes_recorded: \(journal.rows.count)
      history_versions_known: \(history.versionCount)
      by_date_timezone: \(settings.byDateDeviceClock ? "device" : "utc")

      """
  }

  /// The shared header index's state and counters.
  private var sharedIndexReport: String {
    guard let shared else { return "shared_index: off" }
    let c = shared.snapshot
    return [
      "shared_index: \(settings.readOnly ? "read" : "read-write")", "shared_index_gets: \(c.gets)",
      "shared_index_records_adopted: \(headers.snapshot.counts.adopted)", "shared_index_puts: \(c.puts)",
      "shared_index_conflicts: \(c.conflicts)", "shared_index_skipped: \(c.skipped)",
      "shared_index_failures: \(c.failures)", "shared_index_pending: \(c.pending)",
    ].joined(separator: "\n")
  }

  /// Every cache with its size and its limit.
  private var cacheReport: String {
    var lines = "cache_memory_bytes: \(fetcher.memory.usedBytes)\ncache_memory_capacity: \(fetcher.memory.capacity)"
    if let disk = fetcher.disk {
      let u = disk.usage
      lines += "\ncache_dir: \(disk.directory)\ncache_disk_bytes: \(u.bytes)\ncache_disk_capacity: \(disk.capacity)"
      lines +=
        "\ncache_disk_blocks: \(u.blocks)\ncache_disk_hits: \(u.hits)\ncache_disk_misses: \(u.misses)\ncache_disk_rejected: \(u.rejected)"
      lines +=
        "\ncache_disk_skipped: \(u.skipped)\ncache_disk_write_queue_bytes: \(u.queuedBytes)\ncache_disk_write_queue_capacity: \(disk.writeQueueCapacity)"
    } else {
      lines += "\ncache_dir: (none: --cache-dir not given)"
    }
    let placed = byDate.sessionFolders
    for (name, count, limit) in facts.cacheSizes + tree.cacheSizes + [("by_date_session_folders", placed.count, placed.limit)] {
      lines += "\ncache_\(name): \(count) of \(limit)"
    }
    let h = headers.snapshot
    lines += "\ncache_headers: \(h.cached) of \(headers.limit)"
    let lanes = fetcher.queuedJobs
    lines += "\nqueue_prefetch: \(lanes.prefetch) of \(BlockFetcher.prefetchQueueLimit)"
    lines += "\nqueue_list_ahead: \(lanes.listings) of \(BlockFetcher.listingQueueLimit)"
    let running = fetcher.runningJobs
    lines += "\nrunning_prefetch: \(running.prefetch)\nrunning_list_ahead: \(running.listings)"
    let rtt = s3.roundTrip.current.map {
      String(format: "%.1f", Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000)
    }
    lines += "\nround_trip_ms: \(rtt ?? "(not measured yet)")"
    lines += "\nread_ahead_bytes: \(fetcher.aheadBytes()) of \(fetcher.readAhead.limit)"
    lines += "\nprefetching_bytes: \(fetcher.prefetchingBytes)"
    lines += "\ndemand_fetching_bytes: \(fetcher.demandBytes)"
    return lines
  }

  /// Folded and conflicting copies in every session listed so far.
  private func duplicatesReport() -> String {
    let folds = tree.allFolds().map { ($0.0.key, $0.1) }.sorted { $0.0 < $1.0 }
    var out = "# kind\tshown\tcopy\tsize\tetag\n"
    out += "# folded: an identical copy, hidden behind the lowest-epoch copy (shown)\n"
    out += "# conflict: copies of one split that differ; all are shown\n"
    for (prefix, fold) in folds {
      for (hidden, keeper) in fold.folded {
        out += "folded\t\(prefix)\(keeper.name)\t\(prefix)\(hidden.name)\t\(hidden.size)\t\(hidden.etag)\n"
      }
      for group in fold.conflicts {
        for copy in group {
          out += "conflict\t\(prefix)\(group[0].name)\t\(prefix)\(copy.name)\t\(copy.size)\t\(copy.etag)\n"
        }
      }
    }
    return out
  }
}
