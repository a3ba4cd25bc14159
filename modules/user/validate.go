package user

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the API contract (docs/api.md).
const (
	UsernameMin    = 3
	UsernameMax    = 32
	EmailMax       = 254
	DisplayNameMax = 64
	BioMax         = 500
)

// FieldError says which input field is wrong and why. It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func validateUsername(s string) error {
	n := utf8.RuneCountInString(s)
	if n < UsernameMin || n > UsernameMax {
		return invalid("username", "must be %d to %d characters", UsernameMin, UsernameMax)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return invalid("username", "may contain only letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}

// validateEmail accepts a bare address (no display name, no angle
// brackets, no quoted local part) at a host name: dotted labels of
// letters, digits and hyphens. Address literals (a@[127.0.0.1]) and
// all-numeric domains are refused: mail to them goes wherever the literal
// points, inside the network included.
func validateEmail(s string) error {
	if s == "" {
		return invalid("email", "is required")
	}
	if len(s) > EmailMax {
		return invalid("email", "must be at most %d characters", EmailMax)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return invalid("email", "is not a valid email address")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if strings.ContainsAny(local, "\" \t") || !validDomain(domain) {
		return invalid("email", "is not a valid email address")
	}
	return nil
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || utf8.RuneCountInString(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') ||
				r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r))) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.TrimFunc(tld, func(r rune) bool { return r >= '0' && r <= '9' }) != ""
}

// validateText checks a free-text field: valid UTF-8, at most maxRunes,
// no control characters (newlines only where multiline allows them) and
// no bidirectional formatting characters, which can make text display in
// another order than it is stored (U+202E turns "gpj.exe" into "exe.jpg").
func validateText(field, s string, maxRunes int, multiline bool) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxRunes {
		return invalid(field, "must be at most %d characters", maxRunes)
	}
	for _, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\t'):
		case unicode.IsControl(r):
			return invalid(field, "must not contain control characters (U+%04X)", r)
		case isBidiControl(r):
			return invalid(field, "must not contain bidirectional formatting characters (U+%04X)", r)
		}
	}
	return nil
}

// isBidiControl: the explicit embeddings, overrides and isolates, and the
// implicit marks (ALM, LRM, RLM).
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// Validate checks every field of a user about to be stored.
func (u User) Validate() error {
	if err := validateUsername(u.Username); err != nil {
		return err
	}
	if err := validateEmail(u.Email); err != nil {
		return err
	}
	if err := validateText("displayName", u.DisplayName, DisplayNameMax, false); err != nil {
		return err
	}
	return validateText("bio", u.Bio, BioMax, true)
}
