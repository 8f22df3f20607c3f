#!/usr/bin/env bash
# .by-date/ benchmark: the time and the requests to list one recording day of a seeded fleet of
# real MF4 logs (default 100,000: 40 devices x 50 splits x N sessions, from canedge-sim
# seed-logs), cold with a new --cache-dir, again on the same mount, then on a remount with the
# same cache dir (which must read no header), and the time canedge_browser (CSS Electronics'
# Python library, through the same mount) takes to find the same day's files. Run by hand
# (root, a few minutes, about 11 GB of disk for 100,000 logs). Not part of the test suite.
#
#   Benchmarks/by-date.sh [--logs 100000] [--day 2026-11-15]
set -euo pipefail
cd "$(dirname "$0")/.."
logs=100000
day=2026-11-15
while [ $# -gt 0 ]; do
  case $1 in
    --logs) logs=$2; shift 2 ;;
    --day) day=$2; shift 2 ;;
    *) echo "usage: $0 [--logs N] [--day YYYY-MM-DD]" >&2; exit 2 ;;
  esac
done
export EDGEMOUNT_S3_PORT_BASE=${EDGEMOUNT_S3_PORT_BASE:-18700}
work=$(mktemp -d /tmp/edgemount-bydate.XXXXXX)
mnt=$work/mnt
cache=$work/cache
mkdir -p "$mnt"

scripts/install-deps
python3 -c 'import canedge_browser, fsspec' 2>/dev/null || python3 -m pip install -q canedge_browser fsspec
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)

cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  scripts/s3-server stop "$work/s3" || true
  rm -rf "$work"
}
trap cleanup EXIT
. Benchmarks/server.sh
start_bench_server

devices=40; splits=50; sessions=$(( logs / devices / splits ))
echo "seeding: $devices devices x $sessions sessions x $splits splits of real MF4 headers" >&2
seed_start=$(date +%s.%N)
"$bin/canedge-sim" seed-logs bench-days --endpoint "$E" --fixtures Tests/Fixtures --devices $devices \
  --sessions $sessions --splits $splits >&2
echo "seeded in $(echo "$(date +%s.%N) - $seed_start" | bc) s" >&2

counter() { awk -F': ' -v k="$1" '$1 == k {print $2}' "$mnt/.edgemount/status"; }
mount_it() { # [--no-cache]
  sync; echo 3 > /proc/sys/vm/drop_caches
  if [ "${1:-}" = --no-cache ]; then
    "$bin/edgemount" bench-days "$mnt" --endpoint "$E"
  else
    "$bin/edgemount" bench-days "$mnt" --endpoint "$E" --cache-dir "$cache"
  fi
}
# Runs a command, prints: label, seconds, files found, and the request counters it cost.
measure() { # label command...
  local label=$1; shift
  local g0 l0 h0 t0 t1 n
  g0=$(counter requests_get); l0=$(counter requests_list); h0=$(counter headers_read)
  t0=$(date +%s.%N)
  n=$("$@" | wc -l)
  t1=$(date +%s.%N)
  printf '%-44s %7.2f s  %6d files  %6d GET  %5d LIST  %6d headers read\n' "$label" "$(echo "$t1 - $t0" | bc)" "$n" \
    $(( $(counter requests_get) - g0 )) $(( $(counter requests_list) - l0 )) $(( $(counter headers_read) - h0 ))
}

echo
echo "EdgeMount .by-date/ benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(( devices * sessions * splits )) MF4 logs, day $day"
mount_it
measure "cold: find .by-date/$day (new cache dir)" find "$mnt/.by-date/$day" -type f
measure "again, same mount" find "$mnt/.by-date/$day" -type f
measure "another day, same mount" find "$mnt/.by-date/$(date -u -d "$day + 1 day" +%F)" -type f
fusermount3 -u "$mnt"
mount_it
echo "remount: $(counter headers_loaded_from_cache_dir) headers loaded from the cache dir"
measure "remount, same cache dir: find .by-date/$day" find "$mnt/.by-date/$day" -type f
measure "ls .by-date/ (every day of the fleet)" ls "$mnt/.by-date"

# canedge_browser through the same (warm) mount: the vendor's way to find a day's files, by
# reading headers with mdf_iter (its own bisection over sessions and splits).
cat > "$work/browser.py" <<'EOF'
import datetime, os, sys, time, warnings
warnings.filterwarnings("ignore")
import canedge_browser
root, day = sys.argv[1], datetime.datetime.strptime(sys.argv[2], "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
fs = canedge_browser.LocalFileSystem(base_path=root)
devices = sorted(d for d in os.listdir(root) if len(d) == 8)
start = time.time()
files = canedge_browser.get_log_files(fs, devices, start_date=day, stop_date=day + datetime.timedelta(days=1))
print(f"{time.time() - start:.2f} {len(files)}")
EOF
read -r seconds found < <(python3 "$work/browser.py" "$mnt" "$day")
printf '%-44s %7.2f s  %6d files\n' "canedge_browser get_log_files (warm mount)" "$seconds" "$found"
fusermount3 -u "$mnt"
mount_it --no-cache
read -r seconds found < <(python3 "$work/browser.py" "$mnt" "$day")
printf '%-44s %7.2f s  %6d files  %6d GET\n' "canedge_browser, fresh mount without cache dir" "$seconds" "$found" "$(counter requests_get)"
fusermount3 -u "$mnt"
mount_it --no-cache
measure "EdgeMount, fresh mount without cache dir" find "$mnt/.by-date/$day" -type f
