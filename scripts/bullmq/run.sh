#!/usr/bin/env bash
# Side-by-side queue benchmark: Tipbox (tools/queuebench) and BullMQ
# (scripts/bullmq/bench.mjs, bullmq pinned in package.json/package-lock.json)
# run back to back, same workload, same Redis, and print markdown tables with
# the ratios, the go-redis ceiling and the CPU per job.
#
#   scripts/bullmq/run.sh                      # 20,000 jobs per scenario
#   JOBS=5000 LAT_SECONDS=2 REPEAT=1 scripts/bullmq/run.sh   # quick
#
# Env: REDIS_URL (redis://127.0.0.1:6379/0), JOBS (20000), LAT_SECONDS (4),
# ONLY (comma-separated scenarios), BULLMQ_PAYLOAD (object|string, see bench.mjs),
# ORDER (tipbox-first | bullmq-first: who starts; later repetitions alternate),
# REPEAT (3: repetitions; the tables show medians). Keys are created under per-run prefixes
# and deleted by each side; nothing is flushed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export JOBS=${JOBS:-20000}
export LAT_SECONDS=${LAT_SECONDS:-4}
ORDER=${ORDER:-tipbox-first}
REPEAT=${REPEAT:-3}
case $REPEAT in ""|*[!0-9]*|0) echo "REPEAT=$REPEAT: a positive integer" >&2; exit 2 ;; esac
cmd="REDIS_URL=$REDIS_URL JOBS=$JOBS LAT_SECONDS=$LAT_SECONDS${ONLY:+ ONLY=$ONLY}${BULLMQ_PAYLOAD:+ BULLMQ_PAYLOAD=$BULLMQ_PAYLOAD} ORDER=$ORDER REPEAT=$REPEAT scripts/bullmq/run.sh"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "_BullMQ comparison skipped: node/npm not found._"
  exit 0
fi
if [ ! -f "$here/node_modules/bullmq/package.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/queuebench" ./tools/queuebench)

run_tipbox() { # $1: run number
  if ! "$tmp/queuebench" >"$tmp/tipbox.$1.json" 2>"$tmp/tipbox.$1.log"; then
    echo "queuebench failed (run $1):" >&2; cat "$tmp/tipbox.$1.log" >&2
    [ -s "$tmp/tipbox.$1.json" ] || exit 1
  fi
}
run_bullmq() { # $1: run number
  if ! (cd "$here" && node bench.mjs) >"$tmp/bullmq.$1.json" 2>"$tmp/bullmq.$1.log"; then
    echo "bench.mjs failed (run $1):" >&2; cat "$tmp/bullmq.$1.log" >&2
    [ -s "$tmp/bullmq.$1.json" ] || exit 1
  fi
}

load=$(cut -d" " -f1-3 /proc/loadavg)
started=$(date -u "+%F %T UTC")
case $ORDER in
  tipbox-first) first=tipbox second=bullmq ;;
  bullmq-first) first=bullmq second=tipbox ;;
  *) echo "ORDER=$ORDER: tipbox-first or bullmq-first" >&2; exit 2 ;;
esac
files=()
for ((i = 1; i <= REPEAT; i++)); do
  # Alternate the order from one repetition to the next, so neither side
  # always runs on the warmer (or busier) half.
  if ((i % 2)); then "run_$first" "$i"; "run_$second" "$i"; else "run_$second" "$i"; "run_$first" "$i"; fi
  files+=("$tmp/tipbox.$i.json" "$tmp/bullmq.$i.json")
done

bullmq_version=$(node -p "require('$here/node_modules/bullmq/package.json').version")
redis_version=$(node -e "
const {Redis}=require('$here/node_modules/ioredis');const c=new Redis(process.env.REDIS_URL);
c.info('server').then(s=>{console.log((s.match(/redis_version:(\S+)/)||[])[1]);c.disconnect()})")
echo "## Queue: Tipbox vs BullMQ — started $started — $(nproc) cores — $(go version | cut -d' ' -f3) — node $(node --version) — bullmq $bullmq_version — Redis $redis_version — load average at the start: $load, at the end: $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "command: \`$cmd\` (each repetition runs both sides back to back, alternating which goes first; numbers are medians over the repetitions)"
echo
node "$here/table.mjs" "${files[@]}"
