package queue

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	for _, c := range []struct {
		word, text string
		want       bool
	}{
		{"needle", `{"note":"needle"}`, true},
		{"needle", `{"note":"NeEdLe"}`, true},
		{"NEEDLE", `{"note":"a needle"}`, true},
		{"needle", `{"note":"needl"}`, false},
		{"needle", `needl needle`, true},
		{"needle", `nnnnnneedle`, true},
		{"needle", `NNNNNNEEDLE`, true},
		{"needle", ``, false},
		{"", `anything`, true},
		{"/articles/12", `{"path":"/Articles/12"}`, true},
		{"12", `{"path":"/articles/1"}`, false},
		{"e", `xyzE`, true},
		{"ée", `{"w":"CAFÉE"}`, true},
		{"ée", `{"w":"cafe"}`, false},
	} {
		m := NewMatcher(c.word)
		if got := m.String(c.text); got != c.want {
			t.Errorf("%q in %q: %v, want %v", c.word, c.text, got, c.want)
		}
		if got := m.Bytes([]byte(c.text)); got != c.want {
			t.Errorf("bytes: %q in %q: %v, want %v", c.word, c.text, got, c.want)
		}
		// The reference: lower-case both.
		if ref := strings.Contains(strings.ToLower(c.text), strings.ToLower(c.word)); ref != c.want {
			t.Errorf("case %q in %q: reference says %v", c.word, c.text, ref)
		}
	}
	j := &Job{ID: "01ABC", Name: "Email.Send", Payload: []byte(`{"to":"x"}`), Error: "SMTP timeout"}
	for w, want := range map[string]bool{"abc": true, "email.send": true, `"to"`: true, "smtp": true, "nowhere": false} {
		if got := NewMatcher(w).Job(j); got != want {
			t.Errorf("job match %q: %v, want %v", w, got, want)
		}
	}
}

func TestMatcherAllocs(t *testing.T) {
	m := NewMatcher("needle")
	text := []byte(strings.Repeat(`{"event":"page_view","path":"/articles/4711","note":"routine"}`, 3))
	if n := testing.AllocsPerRun(100, func() { m.Bytes(text) }); n != 0 {
		t.Errorf("%v allocations per match", n)
	}
}

func BenchmarkMatcher(b *testing.B) {
	text := []byte(`{"i":4711,"user":1234,"event":"page_view","path":"/articles/4711","note":"routine"}`)
	b.Run("fold", func(b *testing.B) {
		m := NewMatcher("needle")
		for range b.N {
			m.Bytes(text)
		}
	})
	// A whole stored record of the Redis queue, for a word it lacks.
	record := []byte(`{"state":"completed","priority":"normal","attempt":1,"stalls":0,"progress":0,"runAt":1796228101135,` +
		`"startedAt":1796228101140,"finishedAt":1796228101141,"token":0,"error":null,"name":"load","maxAttempts":3,` +
		`"enqueuedAt":1796228101135,"payload":{"event":"page_view","i":4711,"note":"routine","path":"/articles/4711","user":1234}}`)
	b.Run("record", func(b *testing.B) {
		m := NewMatcher("nowhere")
		for range b.N {
			m.Bytes(record)
		}
	})
	b.Run("lower", func(b *testing.B) {
		for range b.N {
			strings.Contains(strings.ToLower(string(text)), "needle")
		}
	})
}

// The matcher agrees with lower-casing both on random ASCII texts and
// words from a small alphabet (so that words often almost match), where
// the anchor byte is anywhere in the word.
func TestMatcherRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = `aAbBzZ":1 `
	str := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		word, text := str(1+rnd.IntN(4)), str(rnd.IntN(24))
		want := strings.Contains(strings.ToLower(text), strings.ToLower(word))
		if got := NewMatcher(word).String(text); got != want {
			t.Fatalf("%q in %q: %v, want %v", word, text, got, want)
		}
	}
}
