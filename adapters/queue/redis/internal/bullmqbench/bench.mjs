// BullMQ side of the queue benchmark: the same workload as the Go
// benchmarks in adapters/queue/redis (200-byte JSON job, no-op handler,
// retention 100 completed / 50 failed), on the same Redis.
//
//   npm install --prefix /tmp/bullmqbench bullmq@6.7.0 ioredis@6.0.0
//   NODE_PATH=/tmp/bullmqbench/node_modules node bench.mjs [redis-host:port] [jobs]
//
// Prints one line per measurement: "<name> <value> <unit>".
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + '/' : import.meta.url);
const { Queue, Worker } = require('bullmq');

const [host, port] = (process.argv[2] || '127.0.0.1:6379').split(':');
const N = Number(process.argv[3] || 20000);
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const prefix = `bullbench-${process.pid}`;
const opts = { removeOnComplete: { count: 100 }, removeOnFail: { count: 50 } };
const payload = (i) => ({
  userId: i, event: 'profile_view', timestamp: '2026-11-27T10:00:00.000Z',
  data: { source: 'web', ref: 'notification', session: '3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11', agent: 'Mozilla/5.0 (X11; Linux x86_64)' },
});
const now = () => performance.timeOrigin + performance.now();
const report = (name, value, unit) => console.log(`${name} ${value.toFixed(unit === 'jobs/s' ? 0 : 3)} ${unit}`);

let seq = 0;
const fresh = () => new Queue(`q${seq++}`, { connection, prefix, defaultJobOptions: opts });
async function done(q) { await q.obliterate({ force: true }); await q.close(); }

async function enqueueSingle() {
  const q = fresh();
  const t0 = now();
  for (let i = 0; i < N; i++) await q.add('event', payload(i));
  report('enqueue_single', N / ((now() - t0) / 1000), 'jobs/s');
  await done(q);
}

async function enqueueConcurrent() {
  const q = fresh();
  let next = 0;
  const t0 = now();
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (next < N) { next++; await q.add('event', payload(next)); }
  }));
  report('enqueue_concurrent50', N / ((now() - t0) / 1000), 'jobs/s');
  await done(q);
}

async function fill(q) {
  for (let i = 0; i < N; i += 100) {
    await q.addBulk(Array.from({ length: Math.min(100, N - i) }, (_, k) => ({ name: 'event', data: payload(i + k) })));
  }
}

async function enqueueBulk() {
  const q = fresh();
  const t0 = now();
  await fill(q);
  report('enqueue_bulk100', N / ((now() - t0) / 1000), 'jobs/s');
  await done(q);
}

async function drain(concurrency) {
  const q = fresh();
  await fill(q);
  let n = 0;
  let t0;
  await new Promise((resolve) => {
    const w = new Worker(q.name, async () => { if (++n === N) resolve(w); }, { connection, prefix, concurrency, autorun: false });
    t0 = now();
    w.run();
  }).then(async (w) => {
    report(`drain_c${concurrency}`, N / ((now() - t0) / 1000), 'jobs/s');
    await w.close();
  });
  await done(q);
}

async function latency(rate) {
  const q = fresh();
  const total = rate * 2;
  const lat = [];
  let w;
  const all = new Promise((resolve) => {
    w = new Worker(q.name, async (job) => { lat.push(now() - job.data.t); if (lat.length === total) resolve(); },
      { connection, prefix, concurrency: 5 });
  });
  await w.waitUntilReady();
  await new Promise((r) => setTimeout(r, 200));
  const interval = 1000 / rate;
  let next = now();
  for (let i = 0; i < total; i++) {
    const d = next - now();
    if (d > 0) await new Promise((r) => setTimeout(r, d));
    next += interval;
    await q.add('event', { ...payload(i), t: now() });
  }
  await all;
  lat.sort((a, b) => a - b);
  report(`latency${rate}_p50`, lat[Math.floor(lat.length / 2)], 'ms');
  report(`latency${rate}_p99`, lat[Math.floor(lat.length * 0.99)], 'ms');
  await w.close();
  await done(q);
}

await enqueueSingle();
await enqueueConcurrent();
await enqueueBulk();
await drain(5);
await drain(50);
await latency(500);
process.exit(0);
