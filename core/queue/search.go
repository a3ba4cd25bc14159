package queue

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Matcher is a search's case-insensitive substring test, built once per
// search and run on every job it examines. An ASCII word (the usual case)
// is matched by folding ASCII letters in place, with no allocation per
// job; other words fall back to lower-casing the text.
type Matcher struct {
	word   string // lower case
	ascii  bool
	anchor int // see anchor
}

// NewMatcher returns the matcher of word ("" matches everything).
func NewMatcher(word string) Matcher {
	w := strings.ToLower(word)
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	return Matcher{word: w, ascii: ascii, anchor: anchor(w)}
}

// Word is the searched word, lower case.
func (m Matcher) Word() string { return m.word }

// ASCII reports whether the word is ASCII: it then matches only ASCII
// text, whose case folding is ASCII's.
func (m Matcher) ASCII() bool { return m.ascii }

// String reports whether s contains the word, ignoring case.
func (m Matcher) String(s string) bool {
	if !m.ascii {
		return strings.Contains(strings.ToLower(s), m.word)
	}
	return containsFoldASCII(s, m.word, m.anchor)
}

// Bytes is String of b, without copying it.
func (m Matcher) Bytes(b []byte) bool {
	return m.String(unsafe.String(unsafe.SliceData(b), len(b)))
}

// Job reports whether the job's ID, name, payload or error contains the
// word. The payload is matched as stored (JSON text).
func (m Matcher) Job(j *Job) bool {
	return m.String(j.ID) || m.String(j.Name) || m.Bytes(j.Payload) || m.String(j.Error)
}

// containsFoldASCII reports whether s holds w (ASCII, lower case) with
// ASCII letters of s in either case. Candidates are found with
// strings.IndexByte (vectorised) for the two cases of w[k], the word's
// rarest byte (see anchor), whose few hits in a stored record are then
// checked.
func containsFoldASCII(s, w string, k int) bool {
	n := len(w)
	if n == 0 {
		return true
	}
	lo := w[k]
	up := lo
	if 'a' <= lo && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	// nextLo and nextUp are the next offsets (from 0) of each case of
	// the anchor at or after the scan position; -1: none left. A hit of
	// the anchor at i is a candidate for the word at i-k.
	nextLo, nextUp := -2, -2
	for pos := k; pos-k+n <= len(s); {
		if nextLo != -1 && nextLo < pos {
			nextLo = indexFrom(s, lo, pos)
		}
		if up != lo && nextUp != -1 && nextUp < pos {
			nextUp = indexFrom(s, up, pos)
		}
		i := nextLo
		if up != lo && nextUp != -1 && (i == -1 || nextUp < i) {
			i = nextUp
		}
		if i == -1 || i-k+n > len(s) {
			return false
		}
		if equalFoldASCII(s[i-k:i-k+n], w) {
			return true
		}
		pos = i + 1
	}
	return false
}

// anchor is the index of w's byte that is likely rarest in a stored job:
// letters by their frequency in English, digits and JSON's punctuation
// as the most frequent.
func anchor(w string) int {
	const common = "\":,{}0123456789 etaoinsrhldcumfpgwybvkxjqz" // most frequent first
	best, rank := 0, -1
	for i := 0; i < len(w); i++ {
		r := strings.IndexByte(common, w[i])
		if r < 0 {
			r = len(common) - 8 // other punctuation: fairly rare
		}
		if r > rank {
			best, rank = i, r
		}
	}
	return best
}

func indexFrom(s string, c byte, from int) int {
	i := strings.IndexByte(s[from:], c)
	if i < 0 {
		return -1
	}
	return from + i
}

// equalFoldASCII reports whether s equals w (ASCII, lower case) with
// ASCII letters of s in either case.
func equalFoldASCII(s, w string) bool {
	for i := 0; i < len(w); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}
