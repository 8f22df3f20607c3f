import Foundation

/// Separate hosts on one machine, for the scale-out tests: network namespaces made with
/// `ip netns`, each with a veth into a bridge of their own subnet (10.X.Y.0/24). The test
/// process is 10.X.Y.1 on the bridge; each host gets the next address. A program runs on a host
/// through `nsenter --net`, which changes only its network, so FUSE mounts made there are
/// seen by the test. Everything is removed by `remove()` (and at deinit).
public final class NetworkHosts: @unchecked Sendable {
  public struct Failed: Error, CustomStringConvertible { public var description: String }

  private let tag: String
  private let subnet: String
  private let bridge: String
  private var hosts: [String: (namespace: String, address: String)] = [:]
  private var removed = false

  public init() throws {
    tag = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(5))
    subnet = "10.\(200 + Int.random(in: 0..<50)).\(Int.random(in: 1..<250))"
    bridge = "emb\(tag)"
    try Self.ip(["link", "add", "name", bridge, "type", "bridge"])
    try Self.ip(["addr", "add", "\(subnet).1/24", "dev", bridge])
    try Self.ip(["link", "set", bridge, "up"])
  }

  deinit { remove() }

  /// The test process's own address on the bridge.
  public var localAddress: String { "\(subnet).1" }

  /// Makes host `name` and returns its address.
  @discardableResult
  public func add(_ name: String) throws -> String {
    let n = hosts.count + 2
    let namespace = "em\(tag)\(name)"
    let outside = "v\(tag)\(n)"
    let inside = "p\(tag)\(n)"
    let address = "\(subnet).\(n)"
    try Self.ip(["netns", "add", namespace])
    hosts[name] = (namespace, address)
    try Self.ip(["link", "add", outside, "type", "veth", "peer", "name", inside])
    try Self.ip(["link", "set", inside, "netns", namespace])
    try Self.ip(["link", "set", outside, "master", bridge])
    try Self.ip(["link", "set", outside, "up"])
    try Self.ip(["-n", namespace, "addr", "add", "\(address)/24", "dev", inside])
    try Self.ip(["-n", namespace, "link", "set", inside, "up"])
    try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
    return address
  }

  public func address(of name: String) -> String { hosts[name]!.address }

  /// The command prefix that runs a program on host `name`.
  public func on(_ name: String) -> [String] { ["/usr/bin/nsenter", "--net=/run/netns/\(hosts[name]!.namespace)"] }

  /// Deletes the namespaces and the bridge (their veths go with them).
  public func remove() {
    guard !removed else { return }
    removed = true
    for (_, host) in hosts { _ = try? Command.run(["ip", "netns", "delete", host.namespace]) }
    _ = try? Command.run(["ip", "link", "delete", bridge])
  }

  private static func ip(_ arguments: [String]) throws {
    let r = try Command.run(["ip"] + arguments)
    guard r.status == 0 else { throw Failed(description: "ip \(arguments.joined(separator: " ")): \(r.stderr)") }
  }
}
