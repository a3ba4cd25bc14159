#!/usr/bin/env bash
# What an idle cmd/worker costs: its CPU, and the commands and CPU of the
# Redis it uses, over a window after its start (redis profile, SQLite in a
# temporary directory, keys under a prefix of their own, deleted after).
#
#   go build -o DIR/worker ./cmd/worker
#   scripts/idle-worker.sh DIR [label]
#
# REDIS_URL (default redis://127.0.0.1:6379/0) should point at a Redis with
# no other client: the Redis figures are INFO deltas of the whole server.
# START and WINDOW are seconds (5 and 20).
set -euo pipefail
bin=${1:?usage: $0 DIR [label]}
label=${2:-$bin}
url=${REDIS_URL:-redis://127.0.0.1:6379/0}
start=${START:-5}
window=${WINDOW:-20}
cli=(redis-cli -u "$url")
tmp=$(mktemp -d)
prefix="tipbox-idle-$$:"
cd "$(dirname "$0")/.."
REDIS_URL=$url TIPBOX_DATABASE_DSN="file:$tmp/idle.db" TIPBOX_QUEUE_REDIS_PREFIX="$prefix" \
	TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:0 TIPBOX_LOG_LEVEL=warn \
	"$bin/worker" --config configs/redis.yaml >"$tmp/log" 2>&1 &
pid=$!
cleanup() {
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	"${cli[@]}" --scan --pattern "$prefix*" | xargs -r "${cli[@]}" del >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
cmds() { "${cli[@]}" info stats | awk -F: '/^total_commands_processed/ {print $2 + 0}'; }
rcpu() { "${cli[@]}" info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
sleep "$start"
kill -0 "$pid" 2>/dev/null || { cat "$tmp/log"; exit 1; }
t0=$(ticks) c0=$(cmds) r0=$(rcpu)
sleep "$window"
t1=$(ticks) c1=$(cmds) r1=$(rcpu)
hz=$(getconf CLK_TCK)
awk -v l="$label" -v t="$((t1 - t0))" -v hz="$hz" -v c="$((c1 - c0))" -v r0="$r0" -v r1="$r1" -v w="$window" 'BEGIN {
	printf "%s: worker CPU %.1f ms/s; Redis %.0f commands/s, CPU %.1f ms/s\n", l, t * 1000 / hz / w, c / w, (r1 - r0) * 1000 / w }'
