package redis

import (
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// keys names one queue's keys; all share the hash tag {queue}, so every
// script touches one Redis Cluster slot. Scripts get them in the order of
// all (KEYS[1] … KEYS[15], listed in scripts.go); per-job keys
// (dedup:<id>, logs:<id>) are built in the scripts from base, inside the
// same hash tag.
type keys struct {
	base                     string
	jobs                     string
	waiting                  [3]string // LISTs by queue.Priorities order
	active, delayed          string
	completed, failed, cancl string
	events, stats, paused    string
	cancelling, mins, seq    string
	wake                     string
	cancelChannel            string
	dueChannel               string // a new earliest due time of the delayed set
	all                      []string
}

func newKeys(prefix, q string) keys {
	base := prefix + "{" + q + "}:"
	k := keys{base: base, jobs: base + "jobs", active: base + "active", delayed: base + "delayed",
		completed: base + "completed", failed: base + "failed", cancl: base + "cancelled", events: base + "events",
		stats: base + "stats", paused: base + "paused", cancelling: base + "cancelling", mins: base + "minutes",
		seq: base + "seq", wake: base + "wake", cancelChannel: base + "cancel",
		dueChannel: base + "due"}
	for i, p := range queue.Priorities {
		k.waiting[i] = base + "wait:" + p.String()
	}
	k.all = []string{k.jobs, k.waiting[0], k.waiting[1], k.waiting[2], k.active, k.delayed, k.completed,
		k.failed, k.cancl, k.events, k.stats, k.paused, k.cancelling, k.mins, k.seq, k.wake}
	return k
}

// finishedKey is the list that indexes a finished state.
func (k keys) finishedKey(s queue.State) string {
	switch s {
	case queue.StateCompleted:
		return k.completed
	case queue.StateFailed:
		return k.failed
	case queue.StateCancelled:
		return k.cancl
	}
	return ""
}

// ms is a time as stored: Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// dueMillis is a due time rounded up to the millisecond, so that a job is
// never promoted before its time.
func dueMillis(t time.Time) int64 { return (t.UnixMicro() + 999) / 1000 }

func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
