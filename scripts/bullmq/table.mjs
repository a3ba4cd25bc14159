// Prints the markdown tables of run.sh from the JSON of tools/queuebench (Tipbox)
// and bench.mjs (BullMQ). Usage: node table.mjs tipbox.json bullmq.json
// Every number printed comes from those two files; nothing is computed but ratios.
import { readFileSync } from 'node:fs';

// Usage: node table.mjs tipbox1.json bullmq1.json [tipbox2.json bullmq2.json ...]
// With several runs each number is the median over the runs (per scenario and metric).
const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2 !== 0) throw new Error('usage: table.mjs tipbox.json bullmq.json [...]');
const load = (f) => JSON.parse(readFileSync(f, 'utf8'));
const tips = args.filter((_, i) => i % 2 === 0).map(load);
const bulls = args.filter((_, i) => i % 2 === 1).map(load);
const tip = tips[0];
const RUNS = tips.length;

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
// mergeRuns: for every scenario and numeric key, the median over the runs.
function mergeRuns(objs) {
  const out = {};
  for (const o of objs) for (const [s, r] of Object.entries(o || {})) out[s] = out[s] || Object.keys(r);
  for (const [s, keys] of Object.entries(out)) {
    out[s] = Object.fromEntries(keys.map((k) => [k, median(objs.map((o) => o && o[s] && o[s][k]))]));
  }
  return out;
}
const T = mergeRuns(tips.map((o) => o.scenarios));
const B = mergeRuns(bulls.map((o) => o.scenarios));
const C = mergeRuns(tips.map((o) => o.ceiling));

const fmtRate = (v) => (v === undefined ? 'n/a' : `${(v / 1000).toFixed(1)}k/s`);
const fmtMs = (v) => (v === undefined ? 'n/a' : `${v.toFixed(2)} ms`);
const fmtUs = (v) => (v === undefined ? 'n/a' : `${v.toFixed(1)}`);
const fmtX = (v) => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(2)}×`);
const mark = (ok) => (ok === undefined ? '' : ok ? ' ✅' : ' ❌');
const get = (o, s, k) => (o[s] ? o[s][k] : undefined);
const div = (a, b) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);

const rows = [];
function rate(label, s, goal) {
  const t = get(T, s, 'jobs_per_sec');
  const b = get(B, s, 'jobs_per_sec');
  const r = div(t, b);
  const g = goal ? `≥ ${goal}×${mark(r === undefined ? undefined : r >= goal)}` : '';
  rows.push(`| ${label} | ${fmtRate(t)} | ${fmtRate(b)} | ${fmtX(r)} | ${g} |`);
}
function lat(label, s, k, goalMs) {
  const t = get(T, s, k);
  const b = get(B, s, k);
  const g = goalMs ? `Tipbox ≤ ${goalMs} ms${mark(t === undefined ? undefined : t <= goalMs)}` : '';
  rows.push(`| ${label} | ${fmtMs(t)} | ${fmtMs(b)} | ${fmtX(div(b, t))} | ${g} |`);
}

const what = RUNS > 1 ? `median of ${RUNS} runs` : 'one run';
console.log(`| scenario (${tip.jobs} jobs; latency: ${tip.lat_seconds} s per rate; ${what}) | Tipbox | BullMQ | ratio | goal |`);
console.log('|---|---|---|---|---|');
rate('enqueue one by one (awaited `add` / `Enqueue`)', 'enqueue_single');
rate('enqueue, 50 concurrent callers', 'enqueue_concurrent50', 3);
rate('bulk enqueue (`addBulk` / `EnqueueBulk` of 100)', 'enqueue_bulk100', 6);
rate('drain, concurrency 5', 'drain_c5', 4);
rate('drain, concurrency 50', 'drain_c50');
lat('p50 enqueue→start at 500 jobs/s', 'latency_500', 'p50_ms');
lat('p99 enqueue→start at 500 jobs/s', 'latency_500', 'p99_ms', 1);
lat('p50 enqueue→start at 5,000 jobs/s', 'latency_5000', 'p50_ms');
lat('p99 enqueue→start at 5,000 jobs/s', 'latency_5000', 'p99_ms');
for (const r of rows) console.log(r);
console.log('\nratio: Tipbox ÷ BullMQ for rates, BullMQ ÷ Tipbox for latencies (above 1× = Tipbox better).');
const offered = (o, s) => fmtRate(get(o, s, 'offered_rate'));
console.log(`offered rate of the paced producer (open loop, producer and worker in one process): 500/s — Tipbox ${offered(T, 'latency_500')}, ` +
  `BullMQ ${offered(B, 'latency_500')}; 5,000/s — Tipbox ${offered(T, 'latency_5000')}, BullMQ ${offered(B, 'latency_5000')}. ` +
  `Max enqueue→start at 5,000/s: Tipbox ${fmtMs(get(T, 'latency_5000', 'max_ms'))}, BullMQ ${fmtMs(get(B, 'latency_5000', 'max_ms'))}.`);
if (RUNS > 1) {
  const spread = (objs, s, k) => {
    const v = objs.map((o) => o.scenarios && o.scenarios[s] && o.scenarios[s][k]).filter((x) => typeof x === 'number');
    return v.length ? `${fmtNum(Math.min(...v))}–${fmtNum(Math.max(...v))}` : 'n/a';
  };
  const fmtNum = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(2));
  console.log('\nrange over the runs (min–max), Tipbox / BullMQ: ' + [
    ['drain c5 jobs/s', 'drain_c5', 'jobs_per_sec'], ['bulk jobs/s', 'enqueue_bulk100', 'jobs_per_sec'],
    ['50 callers jobs/s', 'enqueue_concurrent50', 'jobs_per_sec'], ['p99 at 500/s ms', 'latency_500', 'p99_ms'],
  ].map(([l, s, k]) => `${l} ${spread(tips, s, k)} / ${spread(bulls, s, k)}`).join('; ') + '.');
}

console.log('\n| CPU per job (µs) | Tipbox process | BullMQ process | Tipbox: Redis server | BullMQ: Redis server |');
console.log('|---|---|---|---|---|');
for (const [label, s] of [['enqueue one by one', 'enqueue_single'], ['enqueue, 50 callers', 'enqueue_concurrent50'],
  ['bulk enqueue ×100', 'enqueue_bulk100'], ['drain, concurrency 5', 'drain_c5'], ['drain, concurrency 50', 'drain_c50']]) {
  console.log(`| ${label} | ${fmtUs(get(T, s, 'cpu_us_per_job'))} | ${fmtUs(get(B, s, 'cpu_us_per_job'))} | ` +
    `${fmtUs(get(T, s, 'redis_cpu_us_per_job'))} | ${fmtUs(get(B, s, 'redis_cpu_us_per_job'))} |`);
}
console.log('\nprocess: getrusage / process.cpuUsage of the benchmark process (client and worker in one process);' +
  ' Redis server: INFO cpu delta, which includes any other client of the shared Redis.');

const xadd = get(C, 'xadd_pipelined100', 'jobs_per_sec');
const xread = get(C, 'xreadgroup100', 'jobs_per_sec');
console.log('\n| go-redis ceiling (same run, same Redis) | ceiling | Tipbox scenario | Tipbox | Tipbox as % of the ceiling | goal |');
console.log('|---|---|---|---|---|---|');
const ceil = (label, c, tlabel, s) => {
  const t = get(T, s, 'jobs_per_sec');
  const p = div(t, c);
  console.log(`| ${label} | ${fmtRate(c)} | ${tlabel} | ${fmtRate(t)} | ` +
    `${p === undefined ? 'n/a' : `${(100 * p).toFixed(1)} %`} | ≥ 50 %${mark(p === undefined ? undefined : p >= 0.5)} |`);
};
ceil('XADD pipelined ×100', xadd, 'bulk enqueue ×100', 'enqueue_bulk100');
ceil('XADD pipelined ×100', xadd, 'enqueue, 50 callers', 'enqueue_concurrent50');
ceil('XREADGROUP COUNT 100 + one XACK', xread, 'drain, concurrency 5', 'drain_c5');
ceil('XREADGROUP COUNT 100 + one XACK', xread, 'drain, concurrency 50', 'drain_c50');
{
  const f50 = get(C, 'latency_500', 'p50_ms');
  const f99 = get(C, 'latency_500', 'p99_ms');
  const t50 = get(T, 'latency_500', 'p50_ms');
  const t99 = get(T, 'latency_500', 'p99_ms');
  const plus = (t, f) => (t === undefined || f === undefined ? 'n/a' : `${t - f >= 0 ? '+' : '−'}${Math.abs(t - f).toFixed(2)} ms`);
  console.log(`| latency floor: one XADD per job, paced 500/s, one XREADGROUP BLOCK reader; p50 / p99 | ${fmtMs(f50)} / ${fmtMs(f99)} | ` +
    `p50 / p99 enqueue→start at 500/s | ${fmtMs(t50)} / ${fmtMs(t99)} | ${plus(t50, f50)} / ${plus(t99, f99)} over the floor | ` +
    `p99 ≤ 1 ms${mark(t99 === undefined ? undefined : t99 <= 1)} |`);
}

if (T.memory || B.memory) {
  console.log('\n| Redis memory per job (bytes; used_memory delta / jobs) | Tipbox | BullMQ | Tipbox ÷ BullMQ | goal |');
  console.log('|---|---|---|---|---|');
  for (const [label, k, goal] of [['waiting', 'bytes_per_waiting', 40], ['completed, kept by retention', 'bytes_per_completed', 50]]) {
    const t = get(T, 'memory', k);
    const b = get(B, 'memory', k);
    const p = div(t, b);
    const fmtB = (v) => (v === undefined ? 'n/a' : `${Math.round(v)}`);
    console.log(`| ${label} | ${fmtB(t)} | ${fmtB(b)} | ${p === undefined ? 'n/a' : `${(100 * p).toFixed(0)} %`} | ` +
      `≤ ${goal} %${mark(p === undefined ? undefined : 100 * p <= goal)} |`);
  }
}

for (const [who, objs] of [['Tipbox', tips], ['BullMQ', bulls]]) {
  objs.forEach((o, i) => { if (o.error) console.log(`\n**${who} run ${i + 1} failed:** ${o.error.split('\n')[0]}`); });
}
