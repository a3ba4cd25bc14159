#!/usr/bin/env bash
# make bench: runs the benchmarks and prints them as markdown tables.
# BENCHTIME (default 2s) and BENCH (a -bench regexp, default .) narrow it.
# Needs Redis and PostgreSQL (./scripts/services.sh); the queue section also
# runs BullMQ from npm on the same Redis (scripts/bullmq) when node is found.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-2s}
BENCH=${BENCH:-.}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# Tipbox benchmarks — $(date -u +%F) — $(nproc) cores — $(go version | cut -d' ' -f3)"
echo "# command: BENCHTIME=$BENCHTIME BENCH='$BENCH' make bench"
pkgs=$(go list ./... | while read -r p; do
  d=$(go list -f '{{.Dir}}' "$p")
  grep -l '^func Benchmark' "$d"/*_test.go >/dev/null 2>&1 && echo "$p"
done)
# One package at a time (-p 1): benchmarks must not compete for the 2 cores.
go test -p 1 -run '^$' -bench "$BENCH" -benchtime "$BENCHTIME" $pkgs 2>/dev/null | tee "$out" >/dev/null || true
go run ./internal/benchfmt < "$out"
if [ -x scripts/bullmq/run.sh ]; then
  echo
  scripts/bullmq/run.sh
fi
