#!/usr/bin/env bash
# make bench: runs the benchmarks and prints them as markdown tables.
#   BENCHTIME (default 1s) and BENCH (a -bench regexp, default .) narrow it;
#   PKGS limits the packages (default: every package with benchmarks).
#   TIPBOX_BENCH_SOCKETS (default 10000) is how many sockets per protocol
#   core/realtime's HeldSockets holds.
# Needs Redis and PostgreSQL (./scripts/services.sh). The queue section
# runs BullMQ from npm on the same Redis (scripts/bullmq/run.sh) unless
# BULLMQ=0. Packages run one at a time so they do not compete for cores.
# The end-to-end section (tools/e2ebench: the real cmd/api and
# cmd/worker as processes, embedded and redis profiles, Redis keys under a
# prefix of the run, a PostgreSQL database of its own) runs last unless
# E2E=0; E2E_ARGS passes it flags (e.g. E2E_ARGS='-profiles redis').
# E2E_ONLY=1 runs that section alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-.}
# core/realtime's HeldSockets holds this many sockets per protocol (the
# goal is stated for 10,000); each side needs a descriptor per socket.
if [ -z "${TIPBOX_BENCH_SOCKETS:-}" ]; then
  if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 10200 ]; then
    TIPBOX_BENCH_SOCKETS=10000
  else
    TIPBOX_BENCH_SOCKETS=1000
    echo "# ulimit -Hn is $(ulimit -Hn): HeldSockets holds 1,000 sockets, not 10,000" >&2
  fi
fi
export TIPBOX_BENCH_SOCKETS
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# Tipbox benchmarks — $(date -u '+%F %H:%M UTC') — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) — $(go version | cut -d' ' -f3) — load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# command: BENCHTIME=$BENCHTIME BENCH='$BENCH' make bench"
e2e() {
  echo
  # shellcheck disable=SC2086 # E2E_ARGS is a list of flags
  go run ./tools/e2ebench ${E2E_ARGS:-}
}
if [ "${E2E_ONLY:-0}" = 1 ]; then
  e2e
  exit 0
fi
if [ -z "${PKGS:-}" ]; then
  PKGS=$(go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r p d; do
    if grep -ql '^func Benchmark' "$d"/*_test.go 2>/dev/null; then echo "$p"; fi
  done)
fi
# The grant→socket benchmark has at most 2,000 distinct grants per run:
# it runs with a fixed count; everything else with BENCHTIME.
go test -p 1 -run '^$' -bench "$BENCH" -benchtime "$BENCHTIME" -skip 'GrantToSocket' $PKGS 2>/dev/null | grep -v '^time=' > "$out" || true
if echo "$PKGS" | grep -q tests/bench && [[ "GrantToSocket" =~ $BENCH || "$BENCH" == "." ]]; then
  go test -p 1 -run '^$' -bench 'GrantToSocket' -benchtime 1000x ./tests/bench 2>/dev/null | grep -v '^time=' >> "$out" || true
fi
go run ./tools/benchfmt < "$out"
if [ "${BULLMQ:-1}" != 0 ] && [ -x scripts/bullmq/run.sh ]; then
  echo
  REPEAT=${REPEAT:-1} scripts/bullmq/run.sh
fi
if [ "${E2E:-1}" != 0 ]; then
  e2e
fi
