import Cache
import Foundation
import Locking
import S3

/// Gets blocks of immutable objects: from memory, from the disk cache, or with one ranged GET
/// pinned to the ETag (`If-Match`), so a block never mixes two versions of an object. A block
/// being fetched is fetched once: other readers wait for it. Prefetches run on a worker pool.
final class BlockFetcher: Sendable {
  let s3: S3Client
  let memory: MemoryBlockCache
  let disk: DiskBlockCache?
  private let workers: WorkerPool
  private let inflight = Locked<[BlockID: Pending]>([:])

  /// A fetch under way; readers of the same block wait on it. A prefetch that was dropped
  /// (its lane full) ends with nil: the reader then fetches the block itself.
  typealias Pending = BlockFlight

  /// Two lanes, each bounded: block prefetches, and listings ahead of a walk. A storm of
  /// listings never queues in front of a block a reader waits for.
  private let listings: WorkerPool

  /// How far ahead readers are fetched for the measured round trip (`ReadAhead`).
  let readAhead: ReadAhead
  /// The memory cache's own share, before the read-ahead is added to it.
  private let memoryBase: Int
  /// Bytes of prefetch GETs under way (asked for and not yet ended).
  private let prefetching = Locked(0)

  init(
    s3: S3Client, memory: MemoryBlockCache, disk: DiskBlockCache?, readAhead: ReadAhead = ReadAhead(),
    prefetchThreads: Int = 64
  ) {
    self.s3 = s3
    self.memory = memory
    self.disk = disk
    self.readAhead = readAhead
    memoryBase = memory.capacity
    self.prefetchThreads = prefetchThreads
    workers = WorkerPool(threads: prefetchThreads, name: "em-prefetch", queueLimit: Self.prefetchQueueLimit)
    workers.limitRunning(to: Self.nearPrefetchJobs)
    listings = WorkerPool(threads: Self.listingThreads, name: "em-list-ahead", queueLimit: Self.listingQueueLimit)
    memory.resize(to: memoryBase + ReadAhead.floor)
  }

  /// Prefetch GETs that run at once while the read-ahead is at its floor (a near server): each
  /// holds a connection and a 512 KiB receive buffer, and two GETs of 8 blocks keep a reader
  /// fed on loopback. Far away all `prefetchThreads` run.
  static let nearPrefetchJobs = 8
  private let prefetchThreads: Int

  /// Bytes to keep fetched ahead now, from the round trip measured so far. The memory cache
  /// grows by the same amount, so blocks fetched ahead stay until they are read, and the
  /// prefetch lane runs wide only when the read-ahead is above its floor.
  /// Every read asks; the cache and the lane change only when the answer does.
  func aheadBytes() -> Int {
    let bytes = readAhead.bytes(roundTrip: s3.roundTrip.current)
    applied.withLock { last in
      // Under the lock, so two reads that saw different round trips leave the last one's sizes.
      guard last != bytes else { return }
      last = bytes
      memory.resize(to: memoryBase + bytes)
      workers.limitRunning(to: bytes > ReadAhead.floor ? prefetchThreads : Self.nearPrefetchJobs)
    }
    return bytes
  }
  /// The read-ahead the memory cache and the prefetch lane were last sized for.
  private let applied = Locked(ReadAhead.floor)

  /// Whether S3 is far enough that the read-ahead is above its floor (a round trip of about
  /// 8 ms or more): work that mostly waits for answers then runs wider.
  var isFar: Bool { aheadBytes() > ReadAhead.floor }

  /// Bytes of prefetch GETs under way, for `.edgemount/status` and the memory bound's test.
  var prefetchingBytes: Int { prefetching.withLock { $0 } }

  /// Prefetch batches (of up to `blocksPerRequest` blocks) that may wait for a thread; enough
  /// for the whole read-ahead of a walk of small files (`ReadAhead.maxFiles`) and more.
  static let prefetchQueueLimit = 128
  /// Listings ahead of a walk run at once: the 4 ahead on a near link (the walk keeps up), up to 8 when
  /// each listing mostly waits for its answer far away (`FleetTree.devicesListedAheadFar`).
  static let listingThreads = 8
  /// Listings ahead of a walk that may wait; more are dropped (the walk lists them itself).
  static let listingQueueLimit = 16

  /// Runs a listing ahead of a walk on the listings lane; dropped when the lane is full.
  @discardableResult
  func submitListing(_ job: @escaping @Sendable () -> Void) -> Bool { listings.submit(job) }

  /// Jobs waiting in each lane, for `.edgemount/status`.
  var queuedJobs: (prefetch: Int, listings: Int) { (workers.queued, listings.queued) }
  /// Jobs running in each lane, for `.edgemount/status`.
  var runningJobs: (prefetch: Int, listings: Int) { (workers.running, listings.running) }
  /// Nothing queued or running in either lane.
  var isIdle: Bool { queuedJobs == (0, 0) && runningJobs == (0, 0) }

  private func cached(_ id: BlockID, length: Int) -> [UInt8]? {
    if let block = memory.get(id), block.count == length { return block }
    if let block = disk?.get(id, expectedLength: length) {
      memory.put(id, block)
      return block
    }
    return nil
  }

  /// The bytes of `range` if every block it touches is cached (memory or disk), without a
  /// request; nil otherwise.
  func cachedBytes(key: String, etag: String, range: Range<UInt64>, objectSize: UInt64) -> [UInt8]? {
    guard !range.isEmpty, range.upperBound <= objectSize else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(Int(range.upperBound - range.lowerBound))
    let blocks = BlockID.indices(covering: range)
    let (first, last) = (blocks.lowerBound, blocks.upperBound)
    for index in first...last {
      let id = BlockID(key: key, etag: etag, index: index)
      let span = id.range(objectSize: objectSize)
      guard let block = cached(id, length: Int(span.upperBound - span.lowerBound)) else { return nil }
      let from = Int(max(range.lowerBound, span.lowerBound) - span.lowerBound)
      let to = Int(min(range.upperBound, span.upperBound) - span.lowerBound)
      out += block[from..<to]
    }
    return out
  }

  /// Keeps the whole blocks inside `range` of bytes fetched for another purpose (a header
  /// read that got a small log whole), so reading the log later costs no GET.
  func keep(key: String, etag: String, range: Range<UInt64>, bytes: [UInt8], objectSize: UInt64) {
    guard bytes.count == range.count, !range.isEmpty, range.upperBound <= objectSize else { return }
    for index in BlockID.indices(covering: range) {
      let id = BlockID(key: key, etag: etag, index: index)
      let span = id.range(objectSize: objectSize)
      guard span.lowerBound >= range.lowerBound, span.upperBound <= range.upperBound, memory.get(id) == nil else { continue }
      let block = Array(bytes[Int(span.lowerBound - range.lowerBound)..<Int(span.upperBound - range.lowerBound)])
      memory.put(id, block)
      disk?.putLater(id, block)
    }
  }

  /// Whether a read of the block costs no new GET: it is in memory, on disk or on its way.
  func isAvailable(_ id: BlockID, objectSize: UInt64) -> Bool {
    let range = id.range(objectSize: objectSize)
    return cached(id, length: Int(range.upperBound - range.lowerBound)) != nil || inflight.withLock { $0[id] != nil }
  }

  /// Exactly `range` of an object, in one GET pinned to the ETag, not kept as blocks.
  func bytes(key: String, etag: String, range: Range<UInt64>, objectSize: UInt64) throws(FSError) -> [UInt8] {
    do {
      return try s3.getObject(key: key, range: range, ifMatch: etag.isEmpty ? nil : etag, objectSize: objectSize)
    } catch {
      throw FSError(error)
    }
  }

  /// The block, waiting for a fetch under way or doing one.
  func block(_ id: BlockID, objectSize: UInt64) throws(FSError) -> [UInt8] {
    let range = id.range(objectSize: objectSize)
    let length = Int(range.upperBound - range.lowerBound)
    while true {
      if let hit = cached(id, length: length) { return hit }
      let (pending, mine) = inflight.withLock { map -> (Pending, Bool) in
        if let p = map[id] { return (p, false) }
        let p = Pending()
        map[id] = p
        return (p, true)
      }
      if mine { download([(id, pending)], objectSize: objectSize) }
      // nil: the prefetch it waited for was dropped; fetch it now.
      if let result = pending.wait() { return try result.get() }
    }
  }

  /// Bytes `part` of the block. While another thread's GET of it is under way they are
  /// returned as soon as they have arrived, before the rest of the block.
  func bytes(of id: BlockID, objectSize: UInt64, part: Range<Int>) throws(FSError) -> ArraySlice<UInt8> {
    let range = id.range(objectSize: objectSize)
    let length = Int(range.upperBound - range.lowerBound)
    guard part.lowerBound >= 0, part.upperBound <= length else {
      throw .s3(.invalidResponse("bytes \(part) of block \(id.index) of \(id.key), which has \(length)"))
    }
    func slice(_ block: [UInt8]) throws(FSError) -> ArraySlice<UInt8> {
      guard block.count == length else {
        throw .s3(.invalidResponse("block \(id.index) of \(id.key) is \(block.count) bytes, not \(length)"))
      }
      return block[part]
    }
    guard part.upperBound < length else { return try slice(block(id, objectSize: objectSize)) }
    while true {
      if let hit = cached(id, length: length) { return hit[part] }
      let (pending, mine) = inflight.withLock { map -> (Pending, Bool) in
        if let p = map[id] { return (p, false) }
        let p = Pending()
        map[id] = p
        return (p, true)
      }
      // The GET runs on a thread of the demand lane, so this reader can go as soon as its part
      // is in; with no thread free at once, the reader runs the GET itself.
      if mine,
        !demand.submitIfIdle({ [self] in
          demanding.withLock { $0 += length }
          download([(id, pending)], objectSize: objectSize)
          demanding.withLock { $0 -= length }
        })
      {
        download([(id, pending)], objectSize: objectSize)
      }
      if let bytes = pending.waitForPart(part), bytes.count == part.count { return bytes[...] }
      // The block ended first: its outcome, or (nil: a dropped prefetch) fetch it anew.
      if let result = pending.wait() { return try slice(result.get()) }
    }
  }

  /// GETs of blocks a reader waits for the start of (`bytes(of:objectSize:part:)`): at most
  /// `demandThreads` at once, each holding a block and its receive buffer.
  private let demand = WorkerPool(threads: demandThreads, name: "em-demand", queueLimit: demandThreads)
  static let demandThreads = 4
  /// Bytes of the demand lane's GETs under way, for `.edgemount/status` and the memory bound.
  private let demanding = Locked(0)
  var demandBytes: Int { demanding.withLock { $0 } }

  /// Starts fetching blocks not cached or under way, without waiting. Neighbouring blocks are
  /// fetched together, up to `blocksPerRequest` in one GET. The bytes of prefetch GETs under way
  /// stay within the read-ahead plus one GET (`aheadBytes() + blocksPerRequest` blocks): a batch
  /// beyond it is dropped, and its reader fetches the blocks when it gets there.
  func prefetch(_ ids: [BlockID], objectSize: UInt64) {
    var run: [(BlockID, Pending)] = []
    let bound = aheadBytes() + Self.blocksPerRequest * BlockID.size
    func flush() {
      guard !run.isEmpty else { return }
      let batch = run
      run = []
      let bytes = batch.reduce(0) { $0 + Int($1.0.range(objectSize: objectSize).count) }
      let admitted = prefetching.withLock { inFlight -> Bool in
        guard inFlight + bytes <= bound else { return false }
        inFlight += bytes
        return true
      }
      let submitted =
        admitted
        && workers.submit({ [self] in
          fetchRun(batch, objectSize: objectSize)
          prefetching.withLock { $0 -= bytes }
        })
      if !submitted {
        if admitted { prefetching.withLock { $0 -= bytes } }
        for (id, pending) in batch { finish(id, pending, nil) }
      }
    }
    for id in ids {
      let range = id.range(objectSize: objectSize)
      // A look that does not mark the block as used: one read through stays first to go.
      guard !range.isEmpty, !memory.contains(id) else {
        flush()
        continue
      }
      let pending = inflight.withLock { map -> Pending? in
        guard map[id] == nil else { return nil }
        let p = Pending()
        map[id] = p
        return p
      }
      guard let pending else {
        flush()
        continue
      }
      run.append((id, pending))
      if run.count == Self.blocksPerRequest { flush() }
    }
    flush()
  }

  static let blocksPerRequest = 8

  /// Fetches consecutive blocks: from the disk cache where it has them, the rest in one GET.
  private func fetchRun(_ run: [(BlockID, Pending)], objectSize: UInt64) {
    var missing: [(BlockID, Pending)] = []
    for (id, pending) in run {
      let range = id.range(objectSize: objectSize)
      if let hit = disk?.get(id, expectedLength: Int(range.upperBound - range.lowerBound)) {
        memory.put(id, hit)
        finish(id, pending, .success(hit))
      } else {
        missing.append((id, pending))
      }
    }
    guard let first = missing.first, let last = missing.last else { return }
    // Only a gap-free run goes in one request.
    if last.0.index - first.0.index == missing.count - 1 {
      download(missing, objectSize: objectSize)
    } else {
      for block in missing { download([block], objectSize: objectSize) }
    }
  }

  /// Consecutive blocks (not empty) in one GET pinned to the ETag.
  private func download(_ missing: [(BlockID, Pending)], objectSize: UInt64) {
    let first = missing[0]
    let last = missing[missing.count - 1]
    let whole = first.0.range(objectSize: objectSize).lowerBound..<last.0.range(objectSize: objectSize).upperBound
    let lengths = missing.map { Int($0.0.range(objectSize: objectSize).count) }
    // Each block is served as soon as it has arrived: a reader waiting for the first block of
    // a 16-block GET does not wait for the sixteenth.
    let delivery = RunDelivery(run: missing, lengths: lengths, fetcher: self)
    do {
      // Received straight into one array per block (the range starts on a block boundary).
      let blocks = try s3.getObject(
        key: first.0.key, range: whole, ifMatch: first.0.etag.isEmpty ? nil : first.0.etag, segmentSize: BlockID.size,
        receiver: delivery, objectSize: objectSize)
      guard blocks.map(\.count) == lengths else {
        throw S3Error.invalidResponse("short read: \(blocks.reduce(0) { $0 + $1.count }) of \(whole.count) bytes")
      }
      for (index, block) in blocks.enumerated() { delivery.receive(segment: index, block) }
    } catch {
      delivery.failRest(FSError(error))
    }
  }

  /// Hands out the blocks of one GET as they arrive, each once (a retried GET delivers again),
  /// whichever thread the transport calls back on.
  private final class RunDelivery: SegmentReceiver, Sendable {
    let run: [(BlockID, Pending)]
    let lengths: [Int]
    let fetcher: BlockFetcher
    private let delivered = Locked<Set<Int>>([])

    init(run: [(BlockID, Pending)], lengths: [Int], fetcher: BlockFetcher) {
      self.run = run
      self.lengths = lengths
      self.fetcher = fetcher
    }

    func accept(status: Int, headers: [(String, String)]) -> Bool { true }

    func arrived(segment index: Int, _ bytes: UnsafeRawBufferPointer) {
      guard index < run.count else { return }
      run[index].1.arrived(bytes)
    }

    func receive(segment index: Int, _ bytes: [UInt8]) {
      guard index < run.count, bytes.count == lengths[index], delivered.withLock({ $0.insert(index).inserted }) else {
        return
      }
      let (id, pending) = run[index]
      fetcher.memory.put(id, bytes)
      fetcher.disk?.putLater(id, bytes)
      fetcher.finish(id, pending, .success(bytes))
    }

    func failRest(_ error: FSError) {
      for (index, (id, pending)) in run.enumerated() where delivered.withLock({ $0.insert(index).inserted }) {
        fetcher.finish(id, pending, .failure(error))
      }
    }
  }

  fileprivate func finish(_ id: BlockID, _ pending: Pending, _ result: Result<[UInt8], FSError>?) {
    inflight.withLock { _ = $0.removeValue(forKey: id) }
    pending.finish(result)
  }
}
