// Package queue is Tipbox's transport-agnostic job engine: the job envelope,
// the Enqueuer producers call, the Admin port behind the admin routes, and
// the Worker that runs module handlers on a Watermill Router.
//
// Storage and delivery live behind the Backend port, implemented by
// adapters (adapters/queue/memory, adapters/queue/redis) and selected by
// the config key queue.driver through the fx value group "queue.drivers".
// Core never imports an adapter.
//
// Semantics (SPEC §7): delivery is at least once, so handlers must be
// idempotent (a job keeps its ID across attempts). A failed attempt is not
// retried inside the worker: the retry middleware hands the job back to the
// backend's delayed schedule and acknowledges the delivery, so a job that
// waits for its next attempt holds no worker slot. After the last attempt
// the job goes to the queue's dead-letter store, from which Admin.Retry puts
// it back.
package queue
