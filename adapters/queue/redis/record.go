package redis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// A job's record is one field of the queue's jobs hash (HGET
// tipbox:queue:{q}:jobs <id> in redis-cli): JSON whose first fields, up to
// "error", always come in this order with integer times (Unix ms, 0 when
// unset), so that the scripts can read and rewrite them with one anchored
// pattern and no JSON library (see the header pattern in scripts.go):
//
//	{"state":"waiting","priority":"normal","attempt":1,"stalls":0,"progress":0,
//	 "runAt":0,"startedAt":0,"finishedAt":0,"token":42,
//	 "error":null,"name":"NEW_BADGE","maxAttempts":3,"enqueuedAt":1796228101135,
//	 "correlationId":"…","payload":{…}}
//
// runAt is 0 for a job due at its creation time (the usual enqueue) and
// reads back as enqueuedAt: 12 bytes less in most records
// (docs/benchmarks.md). A scheduled job keeps its tick, earlier than its
// enqueue.
//
// token numbers the job's current placement in a waiting list (and so its
// delivery while active; 0 otherwise): a waiting-list element, a lease or a
// settlement is current only while its token matches. The scripts find
// the end of "error" by the first `,"name":` after it: inside a JSON
// string every quote is escaped, so that sequence cannot occur there.
type record struct {
	State         queue.State        `json:"state"`
	Priority      queue.Priority     `json:"priority"`
	Attempt       int                `json:"attempt"`
	Stalls        int                `json:"stalls"`
	Progress      int                `json:"progress"`
	RunAt         int64              `json:"runAt"`
	StartedAt     int64              `json:"startedAt"`
	FinishedAt    int64              `json:"finishedAt"`
	Token         int64              `json:"token"`
	Error         *string            `json:"error"`
	Name          string             `json:"name"`
	MaxAttempts   int                `json:"maxAttempts"`
	EnqueuedAt    int64              `json:"enqueuedAt"`
	CorrelationID string             `json:"correlationId,omitempty"`
	Group         string             `json:"group,omitempty"`
	Timeout       int64              `json:"timeout,omitempty"`
	Retry         *queue.RetryPolicy `json:"retry,omitempty"`
	Payload       json.RawMessage    `json:"payload"`
}

// encodeRecord returns j's record with token 0. j.Payload must be valid
// JSON.
func encodeRecord(j *queue.Job) []byte {
	b, _ := encode(j, true)
	return b
}

// encodeSplit returns j's record cut where its token goes: a script joins
// head, the token and tail.
func encodeSplit(j *queue.Job) (head, tail []byte) {
	b, cut := encode(j, false)
	return b[:cut:cut], b[cut:]
}

// encode returns j's record and where its token goes; with token, the
// token 0 is written there.
func encode(j *queue.Job, token bool) ([]byte, int) {
	b := make([]byte, 0, 224+len(j.Payload)+len(j.Name)+len(j.CorrelationID))
	b = append(b, `{"state":`...)
	b = appendString(b, string(j.State))
	b = append(b, `,"priority":`...)
	b = appendString(b, j.Priority.String())
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(j.Attempt), 10)
	b = append(b, `,"stalls":`...)
	b = strconv.AppendInt(b, int64(j.Stalls), 10)
	b = append(b, `,"progress":`...)
	b = strconv.AppendInt(b, int64(j.Percent), 10)
	b = append(b, `,"runAt":`...)
	if j.RunAt.IsZero() || j.RunAt.Equal(j.EnqueuedAt) {
		b = append(b, '0')
	} else {
		b = strconv.AppendInt(b, dueMillis(j.RunAt), 10)
	}
	b = append(b, `,"startedAt":`...)
	b = strconv.AppendInt(b, ms(j.StartedAt), 10)
	b = append(b, `,"finishedAt":`...)
	b = strconv.AppendInt(b, ms(j.FinishedAt), 10)
	b = append(b, `,"token":`...)
	cut := len(b)
	if token {
		b = append(b, '0')
	}
	b = append(b, `,"error":`...)
	if j.Error == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, j.Error)
	}
	b = append(b, `,"name":`...)
	b = appendString(b, j.Name)
	b = append(b, `,"maxAttempts":`...)
	b = strconv.AppendInt(b, int64(j.MaxAttempts), 10)
	b = append(b, `,"enqueuedAt":`...)
	b = strconv.AppendInt(b, ms(j.EnqueuedAt), 10)
	if j.CorrelationID != "" {
		b = append(b, `,"correlationId":`...)
		b = appendString(b, j.CorrelationID)
	}
	if j.Group != "" {
		b = append(b, `,"group":`...)
		b = appendString(b, j.Group)
	}
	if j.Timeout > 0 {
		b = append(b, `,"timeout":`...)
		b = strconv.AppendInt(b, j.Timeout.Milliseconds(), 10)
	}
	if j.Retry != nil {
		r, _ := json.Marshal(j.Retry) // plain fields: cannot fail
		b = append(b, `,"retry":`...)
		b = append(b, r...)
	}
	b = append(b, `,"payload":`...)
	if len(j.Payload) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, j.Payload...)
	}
	b = append(b, '}')
	return b, cut
}

// errNotRecord is the cause of an undecodable record.
var errNotRecord = errors.New("not a job record")

// decodeRecord parses a record into a Job of queue q with the given id.
func decodeRecord(q, id string, data []byte) (*queue.Job, error) {
	if j, ok := decodeFast(q, id, data); ok {
		return j, nil
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotRecord, err)
	}
	if r.Name == "" || !r.State.Valid() {
		return nil, fmt.Errorf("%w: name or state missing", errNotRecord)
	}
	j := &queue.Job{ID: id, Queue: q, Name: r.Name, Payload: r.Payload, Priority: r.Priority, State: r.State,
		Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, Stalls: r.Stalls, Percent: r.Progress,
		EnqueuedAt: fromMs(r.EnqueuedAt), RunAt: fromMs(r.RunAt), StartedAt: fromMs(r.StartedAt),
		FinishedAt: fromMs(r.FinishedAt), CorrelationID: r.CorrelationID, Retry: r.Retry, Group: r.Group,
		Timeout: time.Duration(r.Timeout) * time.Millisecond}
	if r.RunAt == 0 {
		j.RunAt = j.EnqueuedAt
	}
	if r.Token > 0 {
		j.Delivery = strconv.FormatInt(r.Token, 10)
	}
	if r.Error != nil {
		j.Error = *r.Error
	}
	return j, nil
}

// rawRecord is the record written for an entry that is not a job (a stream
// entry without an id, or a record the scripts cannot read): a failed job
// whose payload is what was found, as a JSON string.
func rawRecord(raw string, cause error, now time.Time) []byte {
	j := &queue.Job{State: queue.StateFailed, Name: "(undecodable)", Attempt: 1, MaxAttempts: 1,
		Error: queue.ErrUndecodable.Error() + ": " + cause.Error(), EnqueuedAt: now, FinishedAt: now}
	j.Payload, _ = json.Marshal(raw)
	return encodeRecord(j)
}

// appendString appends s as a JSON string. Plain printable ASCII is
// copied; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string { return string(appendString(nil, s)) }
