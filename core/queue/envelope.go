package queue

import (
	"encoding/json"
	"strconv"
	"time"
)

// The envelope codec: a hand-written encoder and decoder for the common
// shape of a Job's JSON, each falling back to encoding/json for anything
// else, so the stored bytes and the decoded Job are exactly what
// encoding/json gives (envelope_test.go checks this, also by fuzzing).
//
// Why: profiling the benchmarks showed json.Marshal(job) at ~26 % of a
// producer's CPU, most of it re-validating and re-compacting the payload
// (a json.RawMessage just produced by json.Marshal) and formatting
// EnqueuedAt through reflection; and json.Unmarshal of the envelope at
// ~12 % of the drain. Neither is a method of Job, so json.Marshal and
// json.Unmarshal of a Job elsewhere keep their own behaviour.

// marshalJob returns json.Marshal(j). trusted says that j.Payload comes
// from json.Marshal, whose output is valid, compact and HTML-escaped, so
// json.Marshal would copy it unchanged; otherwise the payload is checked.
func marshalJob(j *Job, trusted bool) ([]byte, error) {
	if !trusted && j.Payload != nil && !canonicalJSON(j.Payload) {
		return json.Marshal(j)
	}
	b, ok := appendJob(make([]byte, 0, 192+len(j.Payload)), j)
	if !ok {
		return json.Marshal(j)
	}
	return b, nil
}

// appendJob appends j's JSON in encoding/json's field order and format.
// It reports false when a value needs encoding/json (a time outside
// RFC 3339).
func appendJob(b []byte, j *Job) ([]byte, bool) {
	b = append(b, `{"id":`...)
	b = appendString(b, j.ID)
	b = append(b, `,"queue":`...)
	b = appendString(b, j.Queue)
	b = append(b, `,"name":`...)
	b = appendString(b, j.Name)
	b = append(b, `,"payload":`...)
	if j.Payload == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, j.Payload...)
	}
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(j.Attempt), 10)
	b = append(b, `,"maxAttempts":`...)
	b = strconv.AppendInt(b, int64(j.MaxAttempts), 10)
	b = append(b, `,"priority":`...)
	b = appendString(b, j.Priority.String())
	b = append(b, `,"enqueuedAt":"`...)
	n := len(b)
	b = j.EnqueuedAt.AppendFormat(b, time.RFC3339Nano)
	if !strictRFC3339(b[n:]) {
		return nil, false
	}
	b = append(b, '"')
	if j.CorrelationID != "" {
		b = append(b, `,"correlationId":`...)
		b = appendString(b, j.CorrelationID)
	}
	return append(b, '}'), true
}

// strictRFC3339 reports whether Time.MarshalJSON accepts the formatted
// time: a four-digit year and a zone hour in [0,23] (time.appendStrictRFC3339).
func strictRFC3339(t []byte) bool {
	if len(t) < len("2006-01-02T15:04:05Z") || t[4] != '-' {
		return false
	}
	if t[len(t)-1] == 'Z' {
		return true
	}
	z := t[len(t)-len("Z07:00"):]
	if (z[0] != '+' && z[0] != '-') || z[3] != ':' {
		return false
	}
	return (z[1]-'0')*10+(z[2]-'0') < 24
}

// appendString appends s as encoding/json does. Plain printable ASCII is
// copied; anything else is left to encoding/json.
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

// canonicalJSON reports whether b is valid JSON that encoding/json would
// copy unchanged into a document: no whitespace outside strings, and
// inside strings no <, >, & or U+2028/U+2029 (which it escapes).
func canonicalJSON(b []byte) bool {
	inStr, esc := false, false
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			case c == '<' || c == '>' || c == '&':
				return false
			case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
				return false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return json.Valid(b)
}

// unmarshalJob decodes an envelope into j, which must be zero, like
// json.Unmarshal. The fast
// path takes the compact form appendJob writes (field names as written,
// strings without escapes); anything else goes to encoding/json.
func unmarshalJob(data []byte, j *Job) error {
	if decodeFast(data, j) {
		return nil
	}
	*j = Job{}
	return json.Unmarshal(data, j)
}

// decodeFast decodes data into j if it is in the fast path's form and
// valid; on false, j holds garbage.
func decodeFast(data []byte, j *Job) bool {
	d := data
	if len(d) < 2 || d[0] != '{' {
		return false
	}
	i := 1
	if d[i] == '}' {
		return i+1 == len(d)
	}
	for {
		key, next, ok := plainString(d, i)
		if !ok || next >= len(d) || d[next] != ':' {
			return false
		}
		i = next + 1
		switch string(key) {
		case "id", "queue", "name", "correlationId", "priority":
			v, next, ok := plainString(d, i)
			if !ok {
				return false
			}
			i = next
			switch string(key) {
			case "id":
				j.ID = string(v)
			case "queue":
				j.Queue = string(v)
			case "name":
				j.Name = string(v)
			case "correlationId":
				j.CorrelationID = string(v)
			case "priority":
				if j.Priority.UnmarshalText(v) != nil {
					return false
				}
			}
		case "attempt", "maxAttempts":
			n, next, ok := plainInt(d, i)
			if !ok {
				return false
			}
			i = next
			if key[0] == 'a' {
				j.Attempt = n
			} else {
				j.MaxAttempts = n
			}
		case "enqueuedAt":
			_, next, ok := plainString(d, i)
			if !ok || j.EnqueuedAt.UnmarshalJSON(d[i:next]) != nil {
				return false
			}
			i = next
		case "payload":
			end := scanValue(d, i, 0)
			if end < 0 {
				return false
			}
			j.Payload = append(json.RawMessage(nil), d[i:end]...)
			i = end
		default:
			return false
		}
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i++
		case '}':
			return i+1 == len(d)
		default:
			return false
		}
	}
}

// plainString reads the string starting at d[i] (its opening quote) when it
// holds only printable ASCII without escapes, and returns its contents and
// the index after its closing quote.
func plainString(d []byte, i int) ([]byte, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	for k := i + 1; k < len(d); k++ {
		switch c := d[k]; {
		case c == '"':
			return d[i+1 : k], k + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainInt reads a JSON integer of at most 18 digits at d[i].
func plainInt(d []byte, i int) (int, int, bool) {
	neg := i < len(d) && d[i] == '-'
	if neg {
		i++
	}
	start, n := i, 0
	for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		n = n*10 + int(d[i]-'0')
	}
	digits := i - start
	if digits == 0 || digits > 18 || (digits > 1 && d[start] == '0') {
		return 0, 0, false
	}
	if i < len(d) && (d[i] == '.' || d[i] == 'e' || d[i] == 'E') {
		return 0, 0, false
	}
	if neg {
		n = -n
	}
	return n, i, true
}

// maxScanDepth bounds scanValue's nesting; deeper payloads take the
// encoding/json path.
const maxScanDepth = 64

// scanValue returns the end of the compact JSON value at d[i], or -1 when
// it is not one (or is deeper than maxScanDepth, or has whitespace). It
// stands in for json.Valid on the payload, which scans a byte at a time
// through a function pointer; it need only be sound: what it accepts,
// json.Valid accepts (envelope_test.go fuzzes this), and what it rejects
// goes to encoding/json.
func scanValue(d []byte, i, depth int) int {
	if i >= len(d) || depth > maxScanDepth {
		return -1
	}
	switch c := d[i]; {
	case c == '"':
		return scanString(d, i)
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		i++
		if i < len(d) && d[i] == close {
			return i + 1
		}
		for {
			if c == '{' {
				if i = scanString(d, i); i < 0 || i >= len(d) || d[i] != ':' {
					return -1
				}
				i++
			}
			if i = scanValue(d, i, depth+1); i < 0 || i >= len(d) {
				return -1
			}
			switch d[i] {
			case ',':
				i++
			case close:
				return i + 1
			default:
				return -1
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(d, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(d)-i >= len(lit) && string(d[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	return -1
}

// scanString returns the end of the JSON string at d[i], or -1.
func scanString(d []byte, i int) int {
	if i >= len(d) || d[i] != '"' {
		return -1
	}
	for k := i + 1; k < len(d); k++ {
		switch c := d[k]; {
		case c == '"':
			return k + 1
		case c < 0x20:
			return -1
		case c == '\\':
			k++
			if k >= len(d) {
				return -1
			}
			switch d[k] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if k+4 >= len(d) {
					return -1
				}
				for _, h := range d[k+1 : k+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				k += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// scanNumber returns the end of the JSON number at d[i], or -1.
func scanNumber(d []byte, i int) int {
	digits := func(i int) int { // end of a run of at least one digit, or -1
		k := i
		for k < len(d) && d[k] >= '0' && d[k] <= '9' {
			k++
		}
		if k == i {
			return -1
		}
		return k
	}
	if d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if i = digits(i); i < 0 {
		return -1
	}
	if i < len(d) && d[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}
