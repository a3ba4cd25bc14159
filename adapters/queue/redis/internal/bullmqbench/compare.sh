#!/bin/sh
# Side-by-side: Tipbox's Redis queue (go test -bench) and BullMQ (bench.mjs)
# on the same Redis, in one run; prints both and the ratios.
#
#   adapters/queue/redis/internal/bullmqbench/compare.sh [jobs]
#
# Needs node and npm; BullMQ is installed under $BULLMQ_DIR (default
# /tmp/bullmqbench) on first use. Redis: $TIPBOX_TEST_REDIS_ADDR or
# 127.0.0.1:6379.
set -eu
JOBS=${1:-20000}
ADDR=${TIPBOX_TEST_REDIS_ADDR:-127.0.0.1:6379}
DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$DIR/../../../../.." && pwd)
BULLMQ_DIR=${BULLMQ_DIR:-/tmp/bullmqbench}
if [ ! -d "$BULLMQ_DIR/node_modules/bullmq" ]; then
	npm install --silent --no-audit --no-fund --prefix "$BULLMQ_DIR" bullmq@6.7.0 ioredis@6.0.0 >/dev/null
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
(cd "$ROOT" && go test -run '^$' -bench . -benchtime "${JOBS}x" ./adapters/queue/redis/ 2>/dev/null) |
	awk '/^Benchmark/ {
		name=$1; sub(/-[0-9]+$/, "", name)
		for (i = 3; i < NF; i++) { v=$i; u=$(i+1); if (u ~ /jobs\/s|p50-ms|p99-ms|cpu-µs\/job/) print "tipbox", name, v, u }
	}' >"$OUT"
NODE_PATH="$BULLMQ_DIR/node_modules" node "$DIR/bench.mjs" "$ADDR" "$JOBS" | awk '{ print "bullmq", $1, $2, $3 }' >>"$OUT"
awk '
	function t(n, u) { return tip[n " " u] }
	$1 == "tipbox" { tip[$2 " " $4] = $3 }
	$1 == "bullmq" { bull[$2] = $3 }
	END {
		printf "%-26s %14s %14s %8s\n", "workload", "tipbox", "bullmq", "ratio"
		row("enqueue one by one", t("BenchmarkEnqueueSingle", "jobs/s"), bull["enqueue_single"], "jobs/s")
		row("enqueue, 50 callers", t("BenchmarkEnqueueConcurrent50", "jobs/s"), bull["enqueue_concurrent50"], "jobs/s")
		row("enqueue bulk x100", t("BenchmarkEnqueueBulk100", "jobs/s"), bull["enqueue_bulk100"], "jobs/s")
		row("drain, concurrency 5", t("BenchmarkDrainConcurrency5", "jobs/s"), bull["drain_c5"], "jobs/s")
		row("drain, concurrency 50", t("BenchmarkDrainConcurrency50", "jobs/s"), bull["drain_c50"], "jobs/s")
		lrow("p50 enqueue->start @500/s", t("BenchmarkLatency500PerSec", "p50-ms"), bull["latency500_p50"])
		lrow("p99 enqueue->start @500/s", t("BenchmarkLatency500PerSec", "p99-ms"), bull["latency500_p99"])
		printf "%-26s %11s ms %14s\n", "p50 @5000/s (tipbox)", t("BenchmarkLatency5000PerSec", "p50-ms"), "-"
		printf "%-26s %11s ms %14s\n", "p99 @5000/s (tipbox)", t("BenchmarkLatency5000PerSec", "p99-ms"), "-"
		printf "%-26s %11s µs\n", "CPU per job, drain c5", t("BenchmarkDrainConcurrency5", "cpu-µs/job")
		xadd = t("BenchmarkCeilingXAddPipelined100", "jobs/s"); xread = t("BenchmarkCeilingXReadGroup100", "jobs/s")
		printf "%-26s %14.0f   bulk enqueue at %.0f%% of it\n", "go-redis XADD x100 ceiling", xadd, (xadd > 0 ? 100 * t("BenchmarkEnqueueBulk100", "jobs/s") / xadd : 0)
		printf "%-26s %14.0f   drain c5 at %.0f%% of it\n", "go-redis XREADGROUP ceiling", xread, (xread > 0 ? 100 * t("BenchmarkDrainConcurrency5", "jobs/s") / xread : 0)
	}
	function row(name, a, b, u) { printf "%-26s %14.0f %14.0f %7.1fx\n", name, a, b, (b > 0 ? a / b : 0) }
	function lrow(name, a, b) { printf "%-26s %11.3f ms %11.3f ms %7.1fx\n", name, a, b, (a > 0 ? b / a : 0) }
' "$OUT"
