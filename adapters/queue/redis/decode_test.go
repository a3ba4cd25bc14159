package redis

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// slowDecode is decodeRecord without the fast path.
func slowDecode(t *testing.T, data []byte) *queue.Job {
	t.Helper()
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	j := &queue.Job{ID: "id", Queue: "q", Name: r.Name, Payload: r.Payload, Priority: r.Priority, State: r.State,
		Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, Stalls: r.Stalls, Percent: r.Progress,
		EnqueuedAt: fromMs(r.EnqueuedAt), RunAt: fromMs(r.RunAt), StartedAt: fromMs(r.StartedAt),
		FinishedAt: fromMs(r.FinishedAt), CorrelationID: r.CorrelationID, Retry: r.Retry, Group: r.Group,
		Timeout: time.Duration(r.Timeout) * time.Millisecond}
	if r.RunAt == 0 {
		j.RunAt = j.EnqueuedAt
	}
	if r.Error != nil {
		j.Error = *r.Error
	}
	if r.Token > 0 {
		j.Delivery = "7"
	}
	return j
}

// The fast decoder agrees with encoding/json on every record encodeRecord
// writes, and declines (for encoding/json to read) what it does not know.
func TestDecodeFastAgrees(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1796228101135)
	base := queue.Job{ID: "id", Queue: "q", Name: "NEW_BADGE", Payload: json.RawMessage(`{"a":[1,2],"b":"x\"y"}`),
		State: queue.StateActive, Priority: queue.PriorityHigh, Attempt: 2, MaxAttempts: 3, Stalls: 1, Percent: 40,
		EnqueuedAt: now, RunAt: now, StartedAt: now.Add(time.Second)}
	jobs := []queue.Job{base}
	j := base
	j.Error, j.CorrelationID, j.Group, j.Timeout = "boom", "req-7", "tenant-1", 3*time.Second
	jobs = append(jobs, j)
	j = base
	j.Name = `quo"ted` // an escaped string: declined
	jobs = append(jobs, j)
	j = base
	j.Retry = &queue.RetryPolicy{MaxAttempts: 5, Delay: time.Second} // retry: declined
	jobs = append(jobs, j)
	for i, job := range jobs {
		head, tail := encodeSplit(&job)
		data := append(append(head, '7'), tail...)
		want := slowDecode(t, data)
		got, ok := decodeFast("q", "id", data)
		if i >= 2 {
			if ok {
				t.Fatalf("record %d: the fast decoder read a shape it should decline", i)
			}
			continue
		}
		if !ok {
			t.Fatalf("record %d: declined %s", i, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	for _, bad := range []string{`{}`, `not json`, `{"state":"waiting"}`} {
		if _, ok := decodeFast("q", "id", []byte(bad)); ok {
			t.Fatalf("decoded %q", bad)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	j := queue.Job{Name: "n", Payload: json.RawMessage(`{}`), State: queue.StateWaiting, Attempt: 1, MaxAttempts: 3}
	f.Add(encodeRecord(&j))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodeFast("q", "id", data)
		if !ok {
			return
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("fast decoder read %q, encoding/json refuses it: %v", data, err)
		}
		if got.Name != r.Name || string(got.State) != string(r.State) {
			t.Fatalf("%q: fast %+v, json %+v", data, got, r)
		}
	})
}

// A job due from its creation (the usual enqueue) stores runAt as 0, which
// reads back as its enqueue time: 12 bytes less in every such record, which
// keeps a completed job's record with a 200-byte payload in a smaller
// allocation of Redis' allocator (docs/benchmarks.md). A job due later keeps
// its due time.
func TestRecordOfImmediateJobOmitsRunAt(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1796228101135).UTC()
	j := queue.Job{Name: "n", Payload: json.RawMessage(`{}`), State: queue.StateCompleted, Attempt: 1, MaxAttempts: 3,
		EnqueuedAt: now, RunAt: now, StartedAt: now.Add(time.Millisecond), FinishedAt: now.Add(2 * time.Millisecond)}
	data := encodeRecord(&j)
	if !strings.Contains(string(data), `"runAt":0,`) {
		t.Fatalf("record of a job due at its creation keeps its due time: %s", data)
	}
	for _, decode := range []func([]byte) *queue.Job{
		func(b []byte) *queue.Job { got, ok := decodeFast("q", "id", b); mustFast(t, ok); return got },
		func(b []byte) *queue.Job {
			got, err := decodeRecord("q", "id", append(b[:len(b)-1:len(b)-1], []byte(`,"extra":1}`)...)) // not the fast shape
			if err != nil {
				t.Fatal(err)
			}
			return got
		},
	} {
		if got := decode(data); !got.RunAt.Equal(now) {
			t.Fatalf("runAt read back as %v, want the enqueue time %v", got.RunAt, now)
		}
	}
	for _, at := range []time.Time{now.Add(time.Minute), now.Add(-time.Second)} { // delayed; a schedule's tick
		other := j
		other.RunAt = at
		if got, _ := decodeFast("q", "id", encodeRecord(&other)); !got.RunAt.Equal(at) {
			t.Fatalf("runAt %v read back as %v", at, got.RunAt)
		}
	}
}

func mustFast(t *testing.T, ok bool) {
	t.Helper()
	if !ok {
		t.Fatal("the fast decoder declined a record encodeRecord wrote")
	}
}
