package redis

import (
	"slices"
	"testing"

	"github.com/tipbox/tipbox/core/queue"
)

// respBulks reads the raw array replies of both protocols: RESP2 writes a
// missing record as "$-1", RESP3 as "_".
func TestRespBulks(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want []string // "<nil>" for nil
		err  bool
	}{
		{raw: "*0\r\n", want: []string{}},
		{raw: "*3\r\n$3\r\nabc\r\n$-1\r\n$0\r\n\r\n", want: []string{"abc", "<nil>", ""}},
		{raw: "*2\r\n_\r\n$5\r\na\r\nb!\r\n", want: []string{"<nil>", "a\r\nb!"}},
		{raw: "-WRONGTYPE Operation against a key\r\n", err: true},
		{raw: "*2\r\n$3\r\nabc\r\n", err: true},
		{raw: "*1\r\n$9\r\nabc\r\n", err: true},
		{raw: ":1\r\n", err: true},
	} {
		got, err := respBulks([]byte(c.raw), nil)
		if c.err {
			if err == nil {
				t.Errorf("%q: no error", c.raw)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.raw, err)
			continue
		}
		strs := []string{}
		for _, b := range got {
			if b == nil {
				strs = append(strs, "<nil>")
			} else {
				strs = append(strs, string(b))
			}
		}
		if !slices.Equal(strs, c.want) {
			t.Errorf("%q: got %q, want %q", c.raw, strs, c.want)
		}
	}
}

// mayMatch never rules out a job that matches once decoded: a name or
// error that the record escapes is decoded and matched.
func TestMayMatch(t *testing.T) {
	plain := encodeRecord(&queue.Job{Name: "load", State: queue.StateCompleted, Attempt: 1, MaxAttempts: 1,
		Payload: []byte(`{"note":"a\"quoted\" word"}`)})
	escaped := encodeRecord(&queue.Job{Name: `say "hi"`, State: queue.StateFailed, Attempt: 1, MaxAttempts: 1,
		Error: "x<y\nat line 2", Payload: []byte(`{}`)})
	for _, c := range []struct {
		word string
		rec  []byte
		want bool
	}{
		{"nowhere", plain, false},
		{"LOAD", plain, true},
		{`"quoted\"`, plain, true}, // the payload is matched as stored
		{"job-1", plain, true},     // the id
		{"nowhere", escaped, true}, // escaped name or error: decode to know
		{"nowhere", []byte(`not a record`), true},
	} {
		j, _ := decodeRecord("q", "job-1", c.rec)
		if got := mayMatch(queue.NewMatcher(c.word), []byte("job-1"), c.rec); got != c.want {
			t.Errorf("%q in %s: %v, want %v", c.word, c.rec, got, c.want)
		}
		if j != nil && queue.NewMatcher(c.word).Job(j) && !mayMatch(queue.NewMatcher(c.word), []byte("job-1"), c.rec) {
			t.Errorf("%q in %s: a hit ruled out", c.word, c.rec)
		}
	}
	for _, word := range []string{`say "hi"`, "x<y", "y\nat"} {
		j, err := decodeRecord("q", "job-1", escaped)
		if err != nil || !queue.NewMatcher(word).Job(j) || !mayMatch(queue.NewMatcher(word), []byte("job-1"), escaped) {
			t.Errorf("%q: decoded %v (%v), mayMatch %v", word, j, err, mayMatch(queue.NewMatcher(word), []byte("job-1"), escaped))
		}
	}
}
