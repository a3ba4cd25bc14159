package redis

import (
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// keys names one queue's keys; all share the hash tag {queue}.
type keys struct {
	streams                              [3]string // by queue.Priorities order
	delayed, stats, completed, failedIdx string
	failed, paused, dedupPrefix          string
}

func newKeys(prefix, q string) keys {
	base := prefix + "{" + q + "}:"
	var k keys
	for i, p := range queue.Priorities {
		k.streams[i] = base + p.String()
	}
	k.delayed, k.stats, k.completed = base+"delayed", base+"stats", base+"completed"
	k.failed, k.failedIdx, k.paused = base+"failed", base+"failed:index", base+"paused"
	k.dedupPrefix = base + "dedup:"
	return k
}

func prioIndex(p queue.Priority) int {
	for i, q := range queue.Priorities {
		if q == p {
			return i
		}
	}
	return 1
}

// queueOfTopic extracts the hash tag of a stream key.
func queueOfTopic(topic string) string {
	i := strings.IndexByte(topic, '{')
	j := strings.IndexByte(topic, '}')
	if i < 0 || j < i {
		return ""
	}
	return topic[i+1 : j]
}

// dueMillis is the delayed set's score of a due time: milliseconds rounded
// up, so that a job is never promoted before its time.
func dueMillis(t time.Time) int64 { return (t.UnixMicro() + 999) / 1000 }
