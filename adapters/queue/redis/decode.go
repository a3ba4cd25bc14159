package redis

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// decodeFast reads a record in the exact shape encodeRecord writes, without
// encoding/json's reflection and its validation pass over the whole
// record (a measurable share of a drain's CPU). It reports false for any
// other shape (an escaped string, a field out of order, a hand-edited
// record), and the caller falls back to encoding/json.
func decodeFast(q, id string, data []byte) (*queue.Job, bool) {
	c := cursor{b: data}
	j := &queue.Job{ID: id, Queue: q}
	var ok bool
	var runAt, started, finished, token, enq int64
	var state, prio string
	if state, ok = c.field(`{"state":`, c.str); !ok {
		return nil, false
	}
	if prio, ok = c.field(`,"priority":`, c.str); !ok {
		return nil, false
	}
	ints := []*int64{new(int64), new(int64), new(int64), &runAt, &started, &finished, &token}
	for i, key := range []string{`,"attempt":`, `,"stalls":`, `,"progress":`, `,"runAt":`, `,"startedAt":`, `,"finishedAt":`, `,"token":`} {
		if *ints[i], ok = c.intField(key); !ok {
			return nil, false
		}
	}
	if !c.lit(`,"error":`) {
		return nil, false
	}
	if c.lit("null") {
		j.Error = ""
	} else if j.Error, ok = c.str(); !ok {
		return nil, false
	}
	if j.Name, ok = c.field(`,"name":`, c.str); !ok {
		return nil, false
	}
	max, ok := c.intField(`,"maxAttempts":`)
	if !ok {
		return nil, false
	}
	if enq, ok = c.intField(`,"enqueuedAt":`); !ok {
		return nil, false
	}
	if c.lit(`,"correlationId":`) {
		if j.CorrelationID, ok = c.str(); !ok {
			return nil, false
		}
	}
	if c.lit(`,"group":`) {
		if j.Group, ok = c.str(); !ok {
			return nil, false
		}
	}
	if c.lit(`,"timeout":`) {
		ms, ok := c.int()
		if !ok {
			return nil, false
		}
		j.Timeout = time.Duration(ms) * time.Millisecond
	}
	if bytes.HasPrefix(c.b[c.i:], []byte(`,"retry":`)) {
		return nil, false // rare: encoding/json reads it
	}
	if !c.lit(`,"payload":`) || len(c.b) < c.i+1 || c.b[len(c.b)-1] != '}' {
		return nil, false
	}
	payload := c.b[c.i : len(c.b)-1]
	if !json.Valid(payload) {
		return nil, false
	}
	j.Payload = append(json.RawMessage(nil), payload...)
	j.State = queue.State(state)
	if !j.State.Valid() || j.Name == "" {
		return nil, false
	}
	if err := j.Priority.UnmarshalText([]byte(prio)); err != nil {
		return nil, false
	}
	j.Attempt, j.Stalls, j.Percent, j.MaxAttempts = int(*ints[0]), int(*ints[1]), int(*ints[2]), int(max)
	j.RunAt, j.StartedAt, j.FinishedAt, j.EnqueuedAt = fromMs(runAt), fromMs(started), fromMs(finished), fromMs(enq)
	if runAt == 0 {
		j.RunAt = j.EnqueuedAt // due from its creation (encode)
	}
	if token > 0 {
		j.Delivery = strconv.FormatInt(token, 10)
	}
	return j, true
}

type cursor struct {
	b []byte
	i int
}

func (c *cursor) lit(s string) bool {
	if bytes.HasPrefix(c.b[c.i:], []byte(s)) {
		c.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string without escapes.
func (c *cursor) str() (string, bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return "", false
	}
	end := bytes.IndexByte(c.b[c.i+1:], '"')
	if end < 0 {
		return "", false
	}
	s := c.b[c.i+1 : c.i+1+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	c.i += end + 2
	return string(s), true
}

func (c *cursor) int() (int64, bool) {
	start := c.i
	for c.i < len(c.b) && (c.b[c.i] >= '0' && c.b[c.i] <= '9' || (c.i == start && c.b[c.i] == '-')) {
		c.i++
	}
	n, err := strconv.ParseInt(string(c.b[start:c.i]), 10, 64)
	return n, err == nil
}

func (c *cursor) field(key string, read func() (string, bool)) (string, bool) {
	if !c.lit(key) {
		return "", false
	}
	return read()
}

func (c *cursor) intField(key string) (int64, bool) {
	if !c.lit(key) {
		return 0, false
	}
	return c.int()
}
