import CFuse

/// glibc's malloc, set for a daemon that parses listings on many threads and moves log data
/// through 1 MiB blocks.
///
/// - One arena: by default threads that allocate at once get arenas of their own (up to eight
///   per core), and memory freed in one serves only that arena. Blocks fetched on one thread
///   and evicted on another then left freed 1 MiB chunks in one arena while the other grew:
///   with two arenas a cold 1 GiB read peaked at 95-101 MiB RSS with 27 MiB of it free in the
///   arenas; with one, at 80-83 MiB, and 80 ms away at 202-218 MiB instead of 227-249, for
///   about 3% of the far read's speed (64 threads share one arena's lock). A 100,000-object
///   walk peaks at 58-64 MiB either way (80 with the default arenas).
/// - A fixed mmap threshold of 32 MiB and a trim threshold of 64 MiB: blocks come from the
///   heap and freed ones are reused instead of unmapped and faulted in afresh, which halves
///   the page faults of a 1 GiB sequential read.
public enum MallocTuning {
  public static func apply() {
    _ = em_tune_malloc(1, 32 << 20, 64 << 20)
  }
}
