#!/usr/bin/env bash
# The credential rotation soak of #22, run by hand: credentials that live LIFETIME seconds (60)
# and are refreshed at half their life, each revoked at its expiry by an S3 front that checks
# every signature (Tests/Support/aws_emulator.py over a private SeaweedFS), through DURATION
# seconds (600) of continuous listings, reads of logs never read before, and config saves.
# Prints the operations, the failures (must be 0), the refreshes, the front's refusals (an
# expired key used: must be none) and whether any issued secret or token shows in the log,
# status or errors.
#
#   Benchmarks/credential-soak.sh [DURATION] [LIFETIME]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
lifetime=${2:-60}
work=$(mktemp -d /tmp/edgemount-soak.XXXXXX)
. Benchmarks/server.sh
cleanup() {
  fusermount3 -u "$work/mnt" 2>/dev/null || true
  [ -n "${mount_pid:-}" ] && kill "$mount_pid" 2>/dev/null || true
  [ -n "${emulator_pid:-}" ] && kill "$emulator_pid" 2>/dev/null || true
  scripts/s3-server stop "$work/s3" || true
  rm -rf "$work"
}
trap cleanup EXIT
export EDGEMOUNT_S3_PORT_BASE=${EDGEMOUNT_S3_PORT_BASE:-18700}
start_bench_server
swift build -c release --product edgemount >/dev/null
swift build -c release --product canedge-sim >/dev/null
bucket=soak
# A device with its config and schema, and more logs than the run reads.
python3 - "$E" "$bucket" "$duration" <<'PY'
import sys, boto3
endpoint, bucket, duration = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=endpoint)
s3.create_bucket(Bucket=bucket)
put = lambda key, path: s3.put_object(Bucket=bucket, Key=key, Body=open(path, "rb").read())
put("A1B2C3D4/config-01.09.json", "Tests/Fixtures/configs/ce2-01.09-default.json")
put("A1B2C3D4/schema-01.09.json", "Tests/Fixtures/schemas/CANedge2/schema-01.09.json")
sample = open("Tests/Fixtures/bucket-sample/2F6913DB/00001089/00000001-63BEF5CD.MF4", "rb").read()
# Sessions of ten logs: each listing is one small LIST.
for i in range(duration * 4 + 10):
    s3.put_object(Bucket=bucket, Key=f"A1B2C3D4/{i // 10 + 1:08d}/{i + 1:08d}-{0x5E0BE100 + i:08X}.MF4", Body=sample)
PY
root_key=AKIASOAKROOT
root_secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
EMULATOR_UPSTREAM_SECRET=$AWS_SECRET_ACCESS_KEY EMULATOR_ROOT_SECRET=$root_secret python3 Tests/Support/aws_emulator.py \
  --s3-port 0 --services-port 0 --upstream "$E" --upstream-key "$AWS_ACCESS_KEY_ID" --root-key "$root_key" \
  > "$work/emulator.out" 2>&1 &
emulator_pid=$!
for _ in $(seq 50); do grep -q '^ready' "$work/emulator.out" 2>/dev/null && break; sleep 0.1; done
read -r _ s3_port services_port < "$work/emulator.out"
services=http://127.0.0.1:$services_port
curl -sf -X POST --data "{\"lifetime\": $lifetime}" "$services/_control" >/dev/null
mkdir -p "$work/home/.aws" "$work/mnt"
printf '[default]\ncredential_process = curl -sf %s/_issue\n' "$services" > "$work/home/.aws/config"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN HOME="$work/home" AWS_EC2_METADATA_DISABLED=true \
  .build/release/edgemount "$bucket" "$work/mnt" --endpoint "http://127.0.0.1:$s3_port" --foreground --list-ttl 1 \
  --heartbeat-ttl 0 > "$work/mount.log" 2>&1 &
mount_pid=$!
for _ in $(seq 100); do grep -q " $work/mnt " /proc/mounts && break; sleep 0.1; done
ops=0; failures=0; i=0; size=51
end=$((SECONDS + duration))
while [ $SECONDS -lt $end ]; do
  i=$((i + 1))
  session=$(printf '%s/mnt/A1B2C3D4/%08d' "$work" $(((i - 1) / 10 + 1)))
  ls -l "$session" > /dev/null 2>>"$work/failures" || failures=$((failures + 1))
  log=$(printf '%s/%08d-%08X.MF4' "$session" "$i" $((0x5E0BE100 + i - 1)))
  cat "$log" > /dev/null 2>>"$work/failures" || failures=$((failures + 1))
  ops=$((ops + 2))
  if [ $((i % 10)) -eq 0 ]; then
    size=$((size == 51 ? 52 : 51))
    sed -i -E "s/\"split_size\": [0-9]+/\"split_size\": $size/" "$work/mnt/A1B2C3D4/config-01.09.json" 2>>"$work/failures" \
      || failures=$((failures + 1))
    ops=$((ops + 1))
  fi
  sleep 0.2
done
status=$(cat "$work/mnt/.edgemount/status")
stats=$(curl -sf "$services/_stats")
leaks=0
for secret in $(curl -sf "$services/_issued" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))') "$root_secret"; do
  if grep -qF -- "$secret" "$work/mount.log" <(printf '%s' "$status") "$work/mnt/.edgemount/errors"; then leaks=$((leaks + 1)); fi
done
echo "duration: ${duration} s, credential lifetime: ${lifetime} s"
echo "operations: $ops (listings, reads of unread logs, config saves)"
echo "failed operations: $failures"
grep -E '^credentials_(source|refreshed|refresh_failed|expire_at)' <<< "$status"
echo "S3 front requests and refusals: $stats"
echo "secrets or tokens found in the log, status or errors: $leaks"
[ "$failures" -eq 0 ] || head -5 "$work/failures"
