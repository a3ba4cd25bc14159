// Package queue is Tipbox's job engine. A job is a record with one state
// (waiting, active, delayed, completed, failed, cancelled) that changes
// atomically; see docs/operations.md for what holds and how it is tested.
//
//   - Producers call the Enqueuer (Client): options for priority, delay,
//     unique ids, groups, timeouts and retry policies.
//   - The Worker runs module handlers (one job or a batch at a time) on a
//     Watermill Router, fed by a Subscriber: the transport over the
//     backend's Consumer port, which claims jobs for free slots only (a
//     queue whose handlers all take batches: for its batches' room too) and
//     settles each delivery with the outcome the middleware decided.
//   - Admin is the job API behind the admin routes; the EventHub fans each
//     queue's transitions out to Server-Sent Events streams; the Scheduler
//     makes the jobs of stored schedules.
//
// Storage lives behind the Backend port (Producer, Consumer, Store),
// implemented by adapters (adapters/queue/memory, adapters/queue/redis) and
// selected by the config key queue.driver through the fx value group
// "queue.drivers". Core never imports an adapter.
//
// Delivery is at least once: handlers must be idempotent (a job keeps its
// ID across attempts). A failed attempt is not retried inside the worker:
// the job goes back to the backend as delayed until its backoff ends, so
// it holds no worker slot; after its last attempt it is dead (failed),
// and Admin puts it back.
package queue
