#!/usr/bin/env bash
# Listing at scale: a cold `ls -lR` through EdgeMount of a fleet of N/10 and of N objects
# (default N = 1,000,000: 50 devices x 50 sessions x 400 splits), against `rclone lsl -R` of
# the same bucket (a direct client), with the mount's RSS after the walk. rclone is stopped
# after RCLONE_CAP seconds (default 360) and its time shown as "> CAP": at a million objects
# it took 840 s on SeaweedFS here (with --fast-list 140 s already at 100,000), and the mode
# has to fit in 10 minutes once its data is seeded; prints both points
# and how time and memory grow between them. The buckets are seeded once, in parallel, and
# kept in /var/tmp/edgemount-bench-scale for later runs. Run by hand (root). Benchmarks/run.sh
# --objects N with N >= 500000 runs this.
#
#   Benchmarks/scale.sh [--objects 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
big=1000000
[ "${1:-}" = --objects ] && big=$2
small=$(( big / 10 ))
export EDGEMOUNT_S3_PORT_BASE=${EDGEMOUNT_S3_PORT_BASE:-18800}
work=/var/tmp/edgemount-bench-scale
mnt=$(mktemp -d /tmp/edgemount-scale-mnt.XXXXXX)
mkdir -p "$work"

scripts/install-deps
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  scripts/s3-server stop "$work/s3" || true
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
. Benchmarks/server.sh
start_bench_server
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=SeaweedFS RCLONE_CONFIG_BENCH_ENDPOINT=$E \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY

seed() { # bucket objects
  [ -f "$work/seeded-$1" ] && [ "$(cat "$work/seeded-$1")" = "$2" ] && return
  local start; start=$(date +%s)
  "$bin/canedge-sim" seed-logs "$1" --endpoint "$E" --fixtures Tests/Fixtures --devices 50 --sessions 50 \
    --splits $(( $2 / 2500 )) --log-bytes 1024 --parallel 64 >&2
  echo "$2" > "$work/seeded-$1"
  echo "seeded $1 ($2 objects) in $(( $(date +%s) - start )) s" >&2
}
seed "scale-$small" "$small"
seed "scale-$big" "$big"

elapsed() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
declare -A T
cap=${RCLONE_CAP:-360}
for n in "$small" "$big"; do
  sync; echo 3 > /proc/sys/vm/drop_caches
  T[$n,rclone]=$(elapsed timeout "$cap" rclone lsl "bench:scale-$n")
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$bin/edgemount" "scale-$n" "$mnt" --endpoint "$E"
  pid=$(pgrep -n -f -- "$mnt")
  T[$n,em]=$(elapsed ls -lR "$mnt")
  T[$n,rss]=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  T[$n,files]=$(find "$mnt" -type f | wc -l)
  fusermount3 -u "$mnt"
done

echo
echo "EdgeMount listing at scale — $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, SeaweedFS $(weed version 2>/dev/null | awk '/version/ {print $3}')"
printf "%-12s %14s %14s %10s %16s\n" objects "ls -lR (s)" "rclone lsl (s)" "em/rclone" "RSS after (MiB)"
for n in "$small" "$big"; do
  if (( $(echo "${T[$n,rclone]} >= $cap" | bc -l) )); then
    printf "%-12s %14.2f %14s %10s %16d\n" "${T[$n,files]}" "${T[$n,em]}" "> $cap" "< $(echo "scale=3; ${T[$n,em]} / $cap" | bc -l)" "${T[$n,rss]}"
  else
    printf "%-12s %14.2f %14.2f %10.2f %16d\n" "${T[$n,files]}" "${T[$n,em]}" "${T[$n,rclone]}" "$(echo "${T[$n,em]} / ${T[$n,rclone]}" | bc -l)" "${T[$n,rss]}"
  fi
done
printf "growth x%d objects: time x%.2f, RSS x%.2f\n" $(( big / small )) "$(echo "${T[$big,em]} / ${T[$small,em]}" | bc -l)" "$(echo "${T[$big,rss]} / ${T[$small,rss]}" | bc -l)"
