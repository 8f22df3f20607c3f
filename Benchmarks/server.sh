# Sourced by the benchmark scripts: starts the private SeaweedFS of a run in $work/s3 and sets
# the AWS variables and E (its endpoint). The caller's EXIT trap stops it with
# `scripts/s3-server stop "$work/s3"`.
start_bench_server() {
  scripts/s3-server start "$work/s3" >/dev/null
  set -a; . "$work/s3/env"; set +a
  E=$EDGEMOUNT_TEST_ENDPOINT
}
