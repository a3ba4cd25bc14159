package dashboard

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// The stream's own encoder writes what json.Marshal writes.
func TestAppendEventIsJSON(t *testing.T) {
	p := 40
	at := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC)
	for _, ev := range []queue.Event{
		{JobID: "01JABC", Queue: "emails", Name: "send", State: queue.StateCompleted, Attempts: 1, At: at},
		{JobID: "x", Queue: "q", Name: `quote " and \ back`, State: queue.StateFailed, Attempts: 3,
			Error: "boom: <tag> & more\n\tat main.go:1", At: at.In(time.FixedZone("X", 3600))},
		{JobID: "y", Queue: "q", Name: "Ünïcödé ✓", State: queue.StateActive, Progress: &p, At: at.Truncate(time.Second)},
		{JobID: "z", Queue: "q", Name: "ctl\x01\x7f", State: queue.StateWaiting},
	} {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, ev); string(got) != string(want) {
			t.Errorf("appendEvent:\n got %s\nwant %s", got, want)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := queue.Event{JobID: "01JABCDEFGHJKMNPQRSTVWXYZ0", Queue: "analytics", Name: "page_view", State: queue.StateCompleted,
		Attempts: 1, At: time.Now()}
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for range b.N {
			buf = appendEvent(buf[:0], ev)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for range b.N {
			_, _ = json.Marshal(ev)
		}
	})
}
