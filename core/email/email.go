// Package email is the port for sending email: a Message, the Sender that
// delivers it, and the error classes a caller needs to decide between
// retrying and giving up. Adapters (adapters/email/...) register Drivers by
// name; email.driver picks one. The Sender the Module provides is the
// driver's, with email.from filled in and limited to email.rate_limit
// messages a second.
package email

import (
	"context"
	"errors"
	"fmt"
)

// Message is one email to one recipient, with a plain-text and an HTML
// body (both sent, as multipart/alternative; either may be empty).
type Message struct {
	// From is the sender address; empty means email.from.
	From string
	To   string
	// Subject is plain text (adapters encode it).
	Subject string
	Text    string
	HTML    string
	// Headers are extra header fields, e.g. List-Unsubscribe. Adapters
	// refuse header names they set themselves (From, To, Subject, ...).
	Headers map[string]string
}

// Validate checks what every driver needs.
func (m Message) Validate() error {
	switch {
	case m.To == "":
		return fmt.Errorf("%w: no recipient", ErrInvalid)
	case m.From == "":
		return fmt.Errorf("%w: no sender", ErrInvalid)
	case m.Text == "" && m.HTML == "":
		return fmt.Errorf("%w: no body", ErrInvalid)
	}
	return nil
}

// Sender delivers messages. Implementations are safe for concurrent use.
//
// Send returns nil once the provider accepted the message. An error that
// wraps ErrPermanent means the provider refused this message for good (an
// SMTP 5xx reply): sending it again will fail the same way. Any other
// error (a 4xx reply, a timeout, a refused connection) may pass.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Sentinel errors.
var (
	// ErrPermanent marks a refusal that retrying cannot fix.
	ErrPermanent = errors.New("email: permanently refused")
	// ErrInvalid marks a message that no driver can send; it wraps
	// ErrPermanent.
	ErrInvalid = fmt.Errorf("%w: invalid message", ErrPermanent)
	// ErrUnknownDriver is returned when email.driver names no registered
	// driver.
	ErrUnknownDriver = errors.New("email: driver not registered")
)

// IsPermanent reports whether err is a permanent refusal.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
