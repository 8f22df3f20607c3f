import CANedge
import S3

extension FleetFileSystem {
  /// Extended attributes of a node, by name. Objects: `user.s3.etag`, `user.s3.key`, and for
  /// log files the device's upload metadata from one cached HEAD (`user.canedge.hw`, `fw`,
  /// `net`, `timestamp`, `put_index`). Device folders: `user.canedge.config_synced`,
  /// `user.canedge.last_heartbeat`, `user.canedge.fw_ver`, `user.canedge.model`, and with a
  /// certificate bundle on the server `user.canedge.certs` (SHA-1, expiry, subject per line) and
  /// `user.canedge.certs_loaded` (device.json's `certs_server_sha1` lists them all). Scratch
  /// files (never uploaded): `user.edgemount.local` = `true`. Version files in `.history/`: see
  /// `HistoryView.attribute`.
  public func extendedAttributes(ino: UInt64) throws(FSError) -> [(String, String)] {
    let node = try node(ino)
    switch node.kind {
    case .object(.log), .object(.other), .object(.storedConfig), .object(.deviceFile):
      guard node.present else { return [] }
      var out = [("user.s3.key", node.key), ("user.s3.etag", node.etag)]
      if node.kind == .object(.log) {
        out += timeAttributes(node)
        let meta = try facts.objectMetadata(key: node.key, etag: node.etag)
        for (attribute, header) in [
          ("hw", "hw"), ("fw", "fw"), ("net", "net"), ("timestamp", "timestamp"), ("put_index", "put-index"),
        ] {
          if let value = meta[header] { out.append(("user.canedge.\(attribute)", value)) }
        }
      }
      return out
    case .object(.scratch):
      guard node.present else { return [] }
      return [("user.edgemount.local", "true")]
    case .object(.version):
      var out: [(String, String)] = []
      for name in HistoryView.attributeNames {
        if let value = try history.attribute(node, name) { out.append((name, value)) }
      }
      return out
    case .device(let id):
      let status = try deviceStatus(id: id, deviceKey: node.key, countData: false)
      var out: [(String, String)] = [
        ("user.canedge.config_synced", status.configSynced.map { $0 ? "true" : "false" } ?? "unknown")
      ]
      if let heartbeat = status.lastHeartbeat { out.append(("user.canedge.last_heartbeat", ISOTime.string(heartbeat))) }
      if !status.firmwareVersion.isEmpty { out.append(("user.canedge.fw_ver", status.firmwareVersion)) }
      if !status.model.isEmpty { out.append(("user.canedge.model", status.model)) }
      if let certs = status.certificates {
        let lines = certs.map { "\($0.sha1) \(ISOTime.string($0.notAfter)) \($0.subject)" }
        out.append(("user.canedge.certs", lines.joined(separator: "\n")))
        out.append(("user.canedge.certs_loaded", status.certificatesLoaded.map { $0 ? "true" : "false" } ?? "unknown"))
      }
      return out
    default:
      return []
    }
  }

  /// One attribute's value, or nil when the node has no such `user.*` attribute.
  ///
  /// Other namespaces (`security.*`, `system.posix_acl_*`, `trusted.*`) are not supported by
  /// this filesystem, and saying so (ENOTSUP rather than ENODATA) matters for speed: `ls -l`
  /// remembers an unsupported answer for the whole device and stops asking, where "no such
  /// attribute" makes it ask twice per file, 200,000 round trips on a 100,000-file walk.
  public func extendedAttribute(ino: UInt64, name: String) throws(FSError) -> String? {
    guard name.hasPrefix("user.") else { throw .notSupported }
    // Only our own namespaces reach the node: no HEAD for other user.* probes.
    guard name.hasPrefix("user.s3.") || name.hasPrefix("user.canedge.") || name.hasPrefix("user.edgemount.") else {
      return nil
    }
    // A version's attributes: each costs what it needs (nothing, a HEAD, or the version's GET).
    if case .object(.version)? = tree.kind(of: ino) { return try history.attribute(try node(ino), name) }
    // The time attributes need the header only, not the HEAD of the upload metadata.
    if Self.timeAttributeNames.contains(name) || name.hasPrefix("user.canedge.hd.") {
      let node = try node(ino)
      guard node.kind == .object(.log), node.present else { return nil }
      return timeAttributes(node).first { $0.0 == name }?.1
    }
    return try extendedAttributes(ino: ino).first { $0.0 == name }?.1
  }

  static let timeAttributeNames: Set<String> = [
    "user.canedge.start_time", "user.canedge.session_start", "user.canedge.time_source", "user.canedge.header_error",
  ]

  /// A log's recording time from its MF4 header (read once per key and ETag, ever):
  /// `start_time` (the first record, ISO 8601 UTC with milliseconds), `session_start`,
  /// `time_source` (`header`, `session-start` or `upload-name`), why the header could not be
  /// read, and the HD comment's fields as `user.canedge.hd.NAME` (`serial_number`, ...).
  func timeAttributes(_ node: Node) -> [(String, String)] {
    guard let name = LogFileName(ByDateView.storedName(node)) else { return [] }
    let size = decoded?.storedSize(of: node) ?? node.size
    let time = byDate.logTime(key: node.key, etag: node.etag, size: size, name: name)
    var out = [
      ("user.canedge.start_time", ISOTime.milliseconds(time.placement(uploadEpoch: Int64(name.epoch), deviceClock: false)))
    ]
    if let start = time.sessionStart { out.append(("user.canedge.session_start", ISOTime.milliseconds(start))) }
    out.append(("user.canedge.time_source", time.source.rawValue))
    if let failure = time.failure { out.append(("user.canedge.header_error", failure)) }
    for (field, value) in time.comment.sorted(by: { $0.key < $1.key }) {
      let attribute = String(
        field.lowercased().unicodeScalars.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_" })
      out.append(("user.canedge.hd.\(attribute)", value))
    }
    return out
  }
}
