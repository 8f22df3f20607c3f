#!/usr/bin/env bash
# Scale-out benchmark: what one SeaweedFS cluster (scripts/s3-cluster: master, three volume
# servers with replication 001, filer, two gateways) and many mounts of it take. Run by hand
# (root, a few minutes, about 3 GB of disk). Not part of the test suite. Prints:
#   1. a fleet of real MF4 logs listed by one mount (ls -lR of the device tree);
#   2. NODES mounts listing the same .by-date/ day at once, without and with --shared-index:
#      the headers the cluster serves, the GETs, the time;
#   3. N mounts (1, 4, 8) each rsyncing its own device at once: the store's aggregate rate.
#
#   Benchmarks/scale-out.sh [--nodes 20] [--sessions 6]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=20
sessions=6
while [ $# -gt 0 ]; do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    *) echo "usage: $0 [--nodes N] [--sessions N]" >&2; exit 2 ;;
  esac
done
export EDGEMOUNT_CLUSTER_PORT_BASE=${EDGEMOUNT_CLUSTER_PORT_BASE:-18800}
work=$(mktemp -d /tmp/edgemount-scale.XXXXXX)
scripts/install-deps >/dev/null
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)
mounts=()

cleanup() {
  for m in "${mounts[@]}"; do mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }; done
  scripts/s3-cluster stop "$work/cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
scripts/s3-cluster start "$work/cluster" >/dev/null
set -a; . "$work/cluster/env"; set +a
IFS=, read -r A B <<< "$EDGEMOUNT_CLUSTER_ENDPOINTS"

devices=40; splits=50
day=2026-11-02  # seed-logs starts 2026-11-01; device d starts d x 7 h later, two sessions a day
echo "seeding $devices devices x $sessions sessions x $splits splits (real MF4 headers) through both gateways" >&2
t0=$(date +%s.%N)
"$bin/canedge-sim" seed-logs scale --endpoint "$A" --fixtures Tests/Fixtures --devices $devices --sessions "$sessions" \
  --splits $splits --parallel 16 >&2
echo "seeded in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2

counter() { awk -F': ' -v k="$2" '$1 == k {print $2}' "$1/.edgemount/status"; }
mount_one() { # mountpoint options...
  local m=$1; shift
  mkdir -p "$m"
  "$bin/edgemount" scale "$m" --endpoint "$A" --endpoint "$B" --list-ttl 600 "$@"
  mounts+=("$m")
}
unmount_all() {
  for m in "${mounts[@]}"; do fusermount3 -u "$m" 2>/dev/null || true; done
  mounts=()
}
sum() { # counter (0 where a mount has no such line)
  local total=0 v
  for m in "${mounts[@]}"; do v=$(counter "$m" "$1"); total=$(( total + ${v:-0} )); done
  echo $total
}
now() { date +%s.%N; }

echo
echo "EdgeMount scale-out benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, cluster of 7 processes on this machine, $(( devices * sessions * splits )) logs"

# 1. One mount, the whole device tree.
sync; echo 3 > /proc/sys/vm/drop_caches
mount_one "$work/m0"
t0=$(now); n=$(ls -lR "$work/m0" | grep -c '\.MF4$'); t1=$(now)
printf '%-58s %7.2f s  %6d logs  %5d LIST\n' "1 mount: ls -lR of the fleet" "$(echo "$t1 - $t0" | bc)" "$n" "$(counter "$work/m0" requests_list)"
unmount_all

# 2. NODES mounts list the same day at once.
list_day() { # label: every mount lists .by-date/$day at once
  local label=$1 t0 t1 pids=()
  t0=$(now)
  for m in "${mounts[@]}"; do (find "$m/.by-date/$day" -type f | wc -l > "$m.count") & pids+=($!); done
  wait "${pids[@]}"
  t1=$(now)
  printf '%-52s %6.2f s  %4d logs each  %6d headers read  %5d GET (%4d of index)  %6.1f MiB\n' "$label" "$(echo "$t1 - $t0" | bc)" \
    "$(cat "${mounts[0]}.count")" "$(sum headers_read)" "$(sum requests_get)" "$(sum shared_index_gets)" \
    "$(echo "$(sum bytes_downloaded) / 1048576" | bc -l)"
}
for i in $(seq 1 "$nodes"); do mount_one "$work/n$i"; done
list_day "$nodes mounts, no shared index: find .by-date/$day"
unmount_all
mount_one "$work/first" --shared-index
list_day "1 mount with --shared-index lists the day first"
for _ in $(seq 1 100); do [ "$(counter "$work/first" shared_index_pending)" = 0 ] && break; sleep 0.1; done
echo "   it wrote $(counter "$work/first" shared_index_puts) index objects"
unmount_all
for i in $(seq 1 "$nodes"); do mount_one "$work/s$i" --shared-index; done
list_day "then $nodes fresh mounts with --shared-index at once"
unmount_all

# 3. N mounts rsync N devices at once: the store's aggregate rate.
for n in 1 4 8; do
  for i in $(seq 1 "$n"); do mount_one "$work/r$n-$i"; done
  t0=$(now); pids=()
  i=0
  for m in "${mounts[@]}"; do
    dev=$(printf '%08X' $(( 0x30000000 + i ))); i=$(( i + 1 ))
    rsync -a "$m/$dev/" "$work/copy-$n-$i/" & pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now)
  bytes=$(du -sb "$work"/copy-"$n"-* | awk '{s += $1} END {print s}')
  secs=$(echo "$t1 - $t0" | bc)
  printf '%-58s %7.2f s  %7.1f MiB  %7.1f MiB/s  %6d GET  %4d retried\n' "$n mounts rsync $n devices at once" "$secs" \
    "$(echo "$bytes / 1048576" | bc -l)" "$(echo "$bytes / 1048576 / $secs" | bc -l)" "$(sum requests_get)" "$(sum requests_retried)"
  unmount_all
  rm -rf "$work"/copy-"$n"-*
done
