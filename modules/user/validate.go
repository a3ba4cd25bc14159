package user

import (
	"fmt"
	"net/mail"
	"strings"
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
// brackets) with a dotted domain.
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
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return invalid("email", "is not a valid email address")
	}
	return nil
}

func validateText(field, s string, maxRunes int) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxRunes {
		return invalid(field, "must be at most %d characters", maxRunes)
	}
	return nil
}

// Validate checks every field of a user about to be stored.
func (u User) Validate() error {
	if err := validateUsername(u.Username); err != nil {
		return err
	}
	if err := validateEmail(u.Email); err != nil {
		return err
	}
	if err := validateText("displayName", u.DisplayName, DisplayNameMax); err != nil {
		return err
	}
	return validateText("bio", u.Bio, BioMax)
}
