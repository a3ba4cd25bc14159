package redis

import (
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// keys names one queue's keys; all share the hash tag {queue}, so every
// script touches one Redis Cluster slot. Scripts get them in this order
// (KEYS[1] … KEYS[14]); per-job keys (dedup:<id>, logs:<id>) are built in
// the scripts from base, inside the same hash tag.
type keys struct {
	base                                      string
	jobs                                      string
	streams                                   [3]string // by queue.Priorities order
	active, delayed, completed, failed, cancl string
	events, stats, paused, cancelling, mins   string
	cancelChannel                             string
	all                                       []string
}

func newKeys(prefix, q string) keys {
	base := prefix + "{" + q + "}:"
	k := keys{base: base, jobs: base + "jobs", active: base + "active", delayed: base + "delayed",
		completed: base + "completed", failed: base + "failed", cancl: base + "cancelled", events: base + "events",
		stats: base + "stats", paused: base + "paused", cancelling: base + "cancelling", mins: base + "minutes",
		cancelChannel: base + "cancel"}
	for i, p := range queue.Priorities {
		k.streams[i] = base + p.String()
	}
	k.all = []string{k.jobs, k.streams[0], k.streams[1], k.streams[2], k.active, k.delayed, k.completed,
		k.failed, k.cancl, k.events, k.stats, k.paused, k.cancelling, k.mins}
	return k
}

// stateKey is the sorted set that indexes a state (none for waiting).
func (k keys) stateKey(s queue.State) string {
	switch s {
	case queue.StateActive:
		return k.active
	case queue.StateDelayed:
		return k.delayed
	case queue.StateCompleted:
		return k.completed
	case queue.StateFailed:
		return k.failed
	case queue.StateCancelled:
		return k.cancl
	}
	return ""
}

// queueOfKey extracts the hash tag of a key.
func queueOfKey(key string) string {
	i := strings.IndexByte(key, '{')
	j := strings.IndexByte(key, '}')
	if i < 0 || j < i {
		return ""
	}
	return key[i+1 : j]
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
