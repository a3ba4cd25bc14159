// BullMQ side of Tipbox's side-by-side queue benchmark (tools/queuebench is the other side).
//
// The same workload as tools/queuebench, on the same Redis, through BullMQ's public API:
//   enqueue_single       queue.add awaited one after the other
//   enqueue_concurrent50 50 concurrent callers, each awaiting queue.add
//   enqueue_bulk100      queue.addBulk of 100
//   drain_c5, drain_c50  a Worker with that concurrency draining a pre-filled queue
//   latency_500/5000     p50/p99 from just before queue.add to the handler's start, with the
//                        producer paced (open loop) at 500 and 5,000 jobs/s and a Worker at
//                        concurrency 5 (Tipbox's default queue.concurrency)
//
// Jobs carry a ~200-byte JSON payload and the options that match Tipbox's defaults (3 attempts,
// exponential backoff from 2 s, keep 100 completed and 50 failed records). The handler does
// nothing but read the payload (see BULLMQ_PAYLOAD).
//
// Env: REDIS_URL (redis://127.0.0.1:6379/0), JOBS (20000), LAT_SECONDS (4: length of each
// paced run), WARMUP (2000: jobs enqueued by 50 callers and drained, untimed, before the
// scenarios, so V8's JIT is warm), ONLY (comma-separated scenario names), BULLMQ_PAYLOAD:
//   object (default) data is an object; BullMQ JSON-serialises it on add and JSON.parses it
//          when the worker fetches the job (Job.fromJSON), so the handler gets it decoded;
//   string data is the payload's JSON text and the handler JSON.parses it itself (BullMQ then
//          also encodes/decodes that string: one extra layer).
// Prints one JSON object on stdout; progress goes to stderr. Every key it creates lives under a
// per-run prefix and is removed at the end (queue.obliterate, then a SCAN of the prefix).
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379/0';
const JOBS = intEnv('JOBS', 20000);
const LAT_SECONDS = numEnv('LAT_SECONDS', 4);
const WARMUP = intEnv('WARMUP', 2000, 0);
const ONLY = (process.env.ONLY || '').split(',').filter(Boolean);
const PAYLOAD_MODE = process.env.BULLMQ_PAYLOAD || 'object';
if (!['object', 'string'].includes(PAYLOAD_MODE)) throw new Error(`BULLMQ_PAYLOAD=${PAYLOAD_MODE}: object or string`);
const PREFIX = `qbench-bullmq-${process.pid}-${Date.now()}`;
const WAIT_LIMIT_MS = 180_000;

function intEnv(name, def, min = 1) {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: not an integer ≥ ${min}`);
  return n;
}
function numEnv(name, def) {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${v}: not a positive number`);
  return n;
}
const log = (...a) => console.error('[bullmq]', ...a);

// Wall clock in µs with sub-ms resolution (Date.now() has only ms).
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

// The payload: same fields, same values and same padding rule as tools/queuebench.
const SESSION = '3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11';
function basePayload(i, sentAt, pad) {
  return { userId: i, event: 'profile_view', sentAt,
    data: { source: 'web', ref: 'notification', session: SESSION, pad } };
}
// Padding that makes a typical payload (5-digit userId, 16-digit sentAt) exactly 200 bytes.
const PAD = 'x'.repeat(200 - JSON.stringify(basePayload(10000, 1e15, '')).length);
const PAYLOAD_BYTES = JSON.stringify(basePayload(10000, nowMicros(), PAD)).length;
function payload(i, sentAt = nowMicros()) {
  const p = basePayload(i, sentAt, PAD);
  return PAYLOAD_MODE === 'string' ? JSON.stringify(p) : p;
}
const decode = PAYLOAD_MODE === 'string' ? (d) => JSON.parse(d) : (d) => d;

// Tipbox's queue defaults (queue.retry and queue.retention, core/queue/config.go): 3 attempts, exponential backoff 2 s ×2, retention 100/50.
const JOB_OPTS = { attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: 100, removeOnFail: 50 };

const clients = [];
function connection() {
  const c = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  clients.push(c);
  return c;
}
const queues = [];
let queueSeq = 0;
function newQueue(scenario) {
  const q = new Queue(`${scenario}-${++queueSeq}`, { connection: connection(), prefix: PREFIX, defaultJobOptions: JOB_OPTS });
  queues.push(q);
  return q;
}
const admin = connection();

async function redisCPU() {
  const info = await admin.info('cpu');
  const get = (k) => Number((info.match(new RegExp(`^${k}:([0-9.]+)`, 'm')) || [])[1] || 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

// measure runs fn (which does `jobs` jobs) and returns its rate and CPU costs.
async function measure(jobs, fn) {
  const r0 = await redisCPU();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const r1 = await redisCPU();
  return { jobs, seconds: round(secs, 4), jobs_per_sec: Math.round(jobs / secs),
    cpu_us_per_job: round((c.user + c.system) / jobs, 2),
    redis_cpu_us_per_job: round(((r1 - r0) * 1e6) / jobs, 2) };
}
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  const timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_LIMIT_MS} ms`)), WAIT_LIMIT_MS);
  promise.finally(() => clearTimeout(timer)).catch(() => {});
  return { promise, resolve, reject };
}

async function fill(q, n) {
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: 'event', data: payload(j) });
    await q.addBulk(jobs);
  }
}

const scenarios = {
  async enqueue_single() {
    const q = newQueue('single');
    await q.waitUntilReady();
    return measure(JOBS, async () => {
      for (let i = 0; i < JOBS; i++) await q.add('event', payload(i, nowMicros()));
    });
  },
  async enqueue_concurrent50() {
    const q = newQueue('concurrent');
    await q.waitUntilReady();
    let next = 0;
    return measure(JOBS, async () => {
      const caller = async () => {
        for (let i = next++; i < JOBS; i = next++) await q.add('event', payload(i, nowMicros()));
      };
      await Promise.all(Array.from({ length: 50 }, caller));
    });
  },
  async enqueue_bulk100() {
    const q = newQueue('bulk');
    await q.waitUntilReady();
    return measure(JOBS, async () => {
      for (let i = 0; i < JOBS; i += 100) {
        const jobs = [];
        for (let j = i; j < Math.min(JOBS, i + 100); j++) jobs.push({ name: 'event', data: payload(j, nowMicros()) });
        await q.addBulk(jobs);
      }
    });
  },
  drain_c5: () => drain(5),
  drain_c50: () => drain(50),
  latency_500: () => latency(500),
  latency_5000: () => latency(5000),
  memory,
};

// memory measures Redis used_memory per waiting job (JOBS added), then per completed job kept
// (removeOnComplete: false). Run it on a Redis nobody else writes to.
async function usedMemory() {
  const info = await admin.info('memory');
  return Number((info.match(/^used_memory:(\d+)/m) || [])[1]);
}
async function memory() {
  const q = newQueue('memory');
  await q.waitUntilReady();
  const m0 = await usedMemory();
  for (let i = 0; i < JOBS; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(JOBS, i + 1000); j++) {
      jobs.push({ name: 'event', data: payload(j), opts: { ...JOB_OPTS, removeOnComplete: false } });
    }
    await q.addBulk(jobs);
  }
  const m1 = await usedMemory();
  let done = 0;
  const all = deferred();
  const worker = new Worker(q.name, async (job) => {
    decode(job.data);
    if (++done === JOBS) all.resolve();
  }, { connection: connection(), prefix: PREFIX, concurrency: 5 });
  await all.promise;
  await worker.close();
  const m2 = await usedMemory();
  return { jobs: JOBS, bytes_per_waiting: round((m1 - m0) / JOBS, 1), bytes_per_completed: round((m2 - m0) / JOBS, 1) };
}

// warmup enqueues WARMUP jobs from 50 callers and drains them at concurrency 5, untimed.
async function warmup() {
  const q = newQueue('warmup');
  await q.waitUntilReady();
  let next = 0;
  const caller = async () => {
    for (let i = next++; i < WARMUP; i = next++) await q.add('event', payload(i));
  };
  await Promise.all(Array.from({ length: 50 }, caller));
  let done = 0;
  const all = deferred();
  const worker = new Worker(q.name, async (job) => {
    decode(job.data);
    if (++done === WARMUP) all.resolve();
  }, { connection: connection(), prefix: PREFIX, concurrency: 5 });
  await all.promise;
  await worker.close();
}

async function drain(concurrency) {
  const q = newQueue(`drain${concurrency}`);
  await fill(q, JOBS);
  let done = 0;
  const all = deferred();
  // Connected before the clock starts (autorun off), so the time is the drain alone.
  const worker = new Worker(q.name, async (job) => {
    const p = decode(job.data);
    if (typeof p.userId !== 'number') throw new Error('bad payload');
    if (++done === JOBS) all.resolve();
  }, { connection: connection(), prefix: PREFIX, concurrency, autorun: false });
  worker.on('failed', (_job, err) => all.reject(err));
  await worker.waitUntilReady();
  let running;
  const res = await measure(JOBS, async () => {
    running = worker.run();
    running.catch((e) => all.reject(e));
    await all.promise;
  });
  await worker.close();
  await running;
  res.concurrency = concurrency;
  return res;
}

async function latency(rate) {
  const q = newQueue(`latency${rate}`);
  const total = Math.round(rate * LAT_SECONDS);
  const lat = [];
  const all = deferred();
  const worker = new Worker(q.name, async (job) => {
    const p = decode(job.data);
    lat.push(nowMicros() - p.sentAt);
    if (lat.length === total) all.resolve();
  }, { connection: connection(), prefix: PREFIX, concurrency: 5 });
  worker.on('failed', (_job, err) => all.reject(err));
  await q.waitUntilReady();
  await worker.waitUntilReady();
  await new Promise((r) => setTimeout(r, 200)); // let the worker reach its blocking wait
  // Open loop: job i is due at start + i/rate; each wake-up adds every job that is due, without
  // waiting for earlier adds to return (a slow add must not lower the offered rate).
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; sent < due; sent++) q.add('event', payload(sent, nowMicros())).catch((e) => all.reject(e));
    if (sent < total) {
      const wait = start + (sent * 1000) / rate - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    }
  }
  const offered = total / ((performance.now() - start) / 1000);
  await all.promise;
  await worker.close();
  lat.sort((a, b) => a - b);
  const pct = (p) => round(lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))] / 1000, 3);
  return { jobs: total, rate, offered_rate: Math.round(offered), concurrency: 5,
    p50_ms: pct(50), p99_ms: pct(99), max_ms: round(lat[lat.length - 1] / 1000, 3) };
}

async function cleanup() {
  for (const q of queues) {
    try { await q.obliterate({ force: true }); } catch (e) { log('obliterate', q.name, e.message); }
    try { await q.close(); } catch { /* closing anyway */ }
  }
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
    if (keys.length) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  for (const c of clients) c.disconnect();
}

async function main() {
  const bullmqVersion = JSON.parse(readFileSync(new URL('./node_modules/bullmq/package.json', import.meta.url))).version;
  const ioredisVersion = JSON.parse(readFileSync(new URL('./node_modules/ioredis/package.json', import.meta.url))).version;
  const out = { system: 'bullmq', bullmq: bullmqVersion, ioredis: ioredisVersion, node: process.version,
    redis_url: REDIS_URL.replace(/\/\/[^@]*@/, '//***@'), jobs: JOBS, payload_bytes: PAYLOAD_BYTES,
    payload_mode: PAYLOAD_MODE, job_options: JOB_OPTS, lat_seconds: LAT_SECONDS, warmup_jobs: WARMUP, scenarios: {} };
  let failed = false;
  try {
    if (WARMUP > 0) {
      log('warmup', WARMUP, 'jobs ...');
      await warmup();
    }
    for (const [name, fn] of Object.entries(scenarios)) {
      if (ONLY.length && !ONLY.includes(name)) continue;
      log(name, '...');
      out.scenarios[name] = await fn();
      log(name, JSON.stringify(out.scenarios[name]));
    }
  } catch (e) {
    failed = true;
    out.error = String(e && e.stack || e);
    log('FAILED', out.error);
  } finally {
    await cleanup();
  }
  console.log(JSON.stringify(out));
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
