package queue

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The envelope codec must give exactly encoding/json's bytes and Job.

func checkEncode(t *testing.T, j *Job) {
	t.Helper()
	want, werr := json.Marshal(j)
	for _, trusted := range []bool{false, true} {
		if trusted && (werr != nil || !json.Valid(j.Payload) && len(j.Payload) > 0) {
			continue
		}
		if trusted && len(j.Payload) > 0 {
			// trusted payloads are json.Marshal output
			var c bytes.Buffer
			if json.Compact(&c, j.Payload) != nil || !bytes.Equal(c.Bytes(), j.Payload) {
				continue
			}
			if m, _ := json.Marshal(j.Payload); !bytes.Equal(m, j.Payload) {
				continue
			}
		}
		got, gerr := marshalJob(j, trusted)
		if (gerr != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("marshalJob(trusted=%v):\n got %s, %v\nwant %s, %v", trusted, got, gerr, want, werr)
		}
	}
}

func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	var want, got Job
	werr := json.Unmarshal(data, &want)
	gerr := unmarshalJob(data, &got)
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("unmarshalJob(%q): err %v, encoding/json %v", data, gerr, werr)
	}
	if werr != nil {
		return
	}
	if !reflect.DeepEqual(got, want) || !got.EnqueuedAt.Equal(want.EnqueuedAt) {
		t.Fatalf("unmarshalJob(%q):\n got %+v\nwant %+v", data, got, want)
	}
}

var envelopeCases = []Job{
	{ID: "3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11", Queue: "q", Name: "event", Payload: json.RawMessage(`{"userId":1,"s":"a b"}`),
		Attempt: 1, MaxAttempts: 3, EnqueuedAt: time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)},
	{ID: "x", Name: "n", Payload: json.RawMessage(`{ "spaced" : [1, 2] }`), Priority: PriorityHigh,
		EnqueuedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 2*3600)), CorrelationID: "corr"},
	{ID: "<html>&", Queue: "é", Name: "tab\t\"quote\"\\", Payload: json.RawMessage(`"a<b>&c\u2028"`), Priority: PriorityLow},
	{ID: "u", Name: "n", Payload: json.RawMessage("\"\xe2\x80\xa8\""), Attempt: -5, MaxAttempts: 1 << 40},
	{ID: "u", Name: "n", Payload: json.RawMessage(`null`)},
	{ID: "u", Name: "n"},
	{ID: "u", Name: "n", Payload: json.RawMessage(`{"a":`)}, // invalid: an error, as with encoding/json
	{ID: "u", Name: "n", Payload: json.RawMessage(`1`), EnqueuedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	{ID: "u", Name: "n", Payload: json.RawMessage(`[]`), EnqueuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(23*3600+59*60)))},
	{ID: "u", Name: "n", Payload: json.RawMessage(`true`), Priority: Priority(7)},
	{ID: "u", Name: "bad\xffutf8", Payload: json.RawMessage(`{"k":"\u00e9\n"}`), EnqueuedAt: time.Now()},
}

func TestEnvelopeEncodeLikeEncodingJSON(t *testing.T) {
	for _, j := range envelopeCases {
		checkEncode(t, &j)
	}
}

func TestEnvelopeDecodeLikeEncodingJSON(t *testing.T) {
	for _, j := range envelopeCases {
		if b, err := json.Marshal(&j); err == nil {
			checkDecode(t, b)
		}
	}
	for _, s := range []string{
		`{}`, ` {}`, `{} `, `{"id":"a","name":"b"}`, `{"ID":"a","NAME":"b"}`, `{"id":"a","id":"b"}`,
		`{"id":"a","payload":null}`, `{"id":"a","payload":01}`, `{"id":"a","payload":{"x":[1,{"y":"}"}]}}`,
		`{"id":"a","payload":"x\"}"}`, `{"payload":1,}`, `{"attempt":1.5}`, `{"attempt":-0}`, `{"attempt":007}`,
		`{"attempt":99999999999999999999}`, `{"priority":"urgent"}`, `{"priority":""}`, `{"priority":null}`,
		`{"enqueuedAt":"2026-13-01T00:00:00Z"}`, `{"enqueuedAt":"2026-01-01T00:00:00.5+01:00"}`,
		`{"enqueuedAt":null}`, `{"unknown":{"a":1},"id":"x"}`, `{"id":"a\/b"}`, `{"id":1}`, `[]`, `null`, ``,
		`{"id":"a"`, `{"id":"a",}`, `{"payload":[1,2}`, `{"payload":"abc`, `{"correlationId":"c","maxAttempts":4}`,
	} {
		checkDecode(t, []byte(s))
	}
}

func FuzzEnvelope(f *testing.F) {
	for _, j := range envelopeCases {
		f.Add(j.ID, j.Name, []byte(j.Payload), j.Attempt, int(j.Priority), j.EnqueuedAt.UnixNano(), j.CorrelationID)
	}
	f.Fuzz(func(t *testing.T, id, name string, payload []byte, attempt, prio int, at int64, corr string) {
		j := Job{ID: id, Queue: "q", Name: name, Payload: payload, Attempt: attempt, MaxAttempts: attempt ^ 3,
			Priority: Priority(prio), EnqueuedAt: time.Unix(0, at).In(time.FixedZone("", prio%90000)), CorrelationID: corr}
		checkEncode(t, &j)
		if b, err := json.Marshal(&j); err == nil {
			checkDecode(t, b)
		}
		checkDecode(t, payload)
		// payload through json.Marshal, as Client.build does
		var v any
		if json.Unmarshal(payload, &v) == nil {
			j.Payload, _ = json.Marshal(v)
			if m, _ := json.Marshal(j.Payload); !bytes.Equal(m, j.Payload) || !canonicalJSON(j.Payload) {
				t.Fatalf("json.Marshal output %q is not kept as is", j.Payload)
			}
			checkEncode(t, &j)
		}
	})
}

func benchEnvelope() *Job {
	p, _ := json.Marshal(map[string]any{"userId": 10000, "event": "profile_view", "sentAt": int64(1e15),
		"data": map[string]string{"source": "web", "ref": "notification", "session": "3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11", "pad": "xxxxxxxxxxxxxxxxxxxx"}})
	return &Job{ID: "3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11", Queue: "q", Name: "event", Payload: p,
		Attempt: 1, MaxAttempts: 3, EnqueuedAt: time.Now()}
}

func BenchmarkEnvelopeMarshal(b *testing.B) {
	j := benchEnvelope()
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(j)
		}
	})
	b.Run("marshalJob", func(b *testing.B) {
		for b.Loop() {
			_, _ = marshalJob(j, true)
		}
	})
}

func BenchmarkEnvelopeUnmarshal(b *testing.B) {
	data, _ := json.Marshal(benchEnvelope())
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var j Job
			_ = json.Unmarshal(data, &j)
		}
	})
	b.Run("unmarshalJob", func(b *testing.B) {
		for b.Loop() {
			var j Job
			_ = unmarshalJob(data, &j)
		}
	})
}

func checkScan(t *testing.T, b []byte) {
	t.Helper()
	if scanValue(b, 0, 0) == len(b) && !json.Valid(b) {
		t.Fatalf("scanValue accepts %q, json.Valid does not", b)
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		m, _ := json.Marshal(v)
		if scanValue(m, 0, 0) != len(m) && bytes.Count(m, []byte("[")) < maxScanDepth/2 && bytes.Count(m, []byte("{")) < maxScanDepth/2 {
			t.Fatalf("scanValue rejects compact %q", m)
		}
	}
}

func TestScanValue(t *testing.T) {
	for _, s := range []string{`0`, `-0`, `01`, `-`, `1.`, `1.5e`, `1.5e+3`, `1E-2`, `-12.5E3`, `"a\u00e9\n\"\\\/"`,
		`"\u12"`, `"\x"`, "\"\x01\"", `tru`, `true`, `nul`, `[1,[2,{"a":{}}],[]]`, `{"a":1,}`, `[1,]`, `{"a"}`,
		`{"a":1 }`, `[1 ,2]`, `{1:2}`, `"abc`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`} {
		checkScan(t, []byte(s))
	}
}

func FuzzScanValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,"x\u0041",true,false,null,{}]}`, `"\\"`, `0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}
