// Package push is the port for Web Push (RFC 8030): a browser's
// Subscription, a Message for it, and the Sender that encrypts it for the
// subscription (RFC 8291) and posts it to the push service with a VAPID
// signature (RFC 8292). Adapters (adapters/push/...) register Drivers by
// name; push.driver picks one.
package push

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Subscription is what a browser's PushManager.subscribe() returns: the
// push service endpoint and the keys the payload is encrypted to, both
// base64url as the browser gives them.
type Subscription struct {
	Endpoint string `json:"endpoint"`
	P256dh   string `json:"p256dh"`
	Auth     string `json:"auth"`
}

// Validate checks the endpoint is an https URL and the keys have the sizes
// RFC 8291 requires (a 65-byte P-256 point, a 16-byte secret).
func (s Subscription) Validate() error {
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%w: endpoint must be an https URL", ErrInvalid)
	}
	if b, err := decodeKey(s.P256dh); err != nil || len(b) != 65 || b[0] != 4 {
		return fmt.Errorf("%w: p256dh must be a base64url uncompressed P-256 public key (65 bytes)", ErrInvalid)
	}
	if b, err := decodeKey(s.Auth); err != nil || len(b) != 16 {
		return fmt.Errorf("%w: auth must be a base64url 16-byte secret", ErrInvalid)
	}
	return nil
}

// decodeKey accepts base64url with or without padding (browsers send it
// without; some libraries add it).
func decodeKey(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

// Urgency is the Urgency header of RFC 8030: how soon the device should
// wake for the message.
type Urgency string

// The urgencies, lowest first.
const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

// Valid reports whether u is one of the four urgencies.
func (u Urgency) Valid() bool {
	switch u {
	case UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
		return true
	}
	return false
}

// Message is one push message.
type Message struct {
	// Payload is encrypted for the subscription (at most ~3.9 KB).
	Payload []byte
	// TTL is how long the push service keeps it for an offline device
	// (whole seconds; 0: deliver now or drop).
	TTL time.Duration
	// Urgency is sent when set.
	Urgency Urgency
	// Topic, when set, replaces a pending message with the same topic.
	Topic string
}

// Sender delivers messages. Implementations are safe for concurrent use.
//
// An error wrapping ErrGone means the subscription no longer exists (the
// service answered 404 or 410): the caller should forget it. One wrapping
// ErrPermanent means the service refused this message for good (another
// 4xx but 429). Any other error (5xx, 429, a network failure) may pass.
type Sender interface {
	Send(ctx context.Context, sub Subscription, m Message) error
}

// Sentinel errors.
var (
	ErrPermanent = errors.New("push: permanently refused")
	// ErrGone wraps ErrPermanent.
	ErrGone = fmt.Errorf("%w: subscription gone", ErrPermanent)
	// ErrInvalid marks a subscription or message no driver can send; it
	// wraps ErrPermanent.
	ErrInvalid = fmt.Errorf("%w: invalid", ErrPermanent)
	// ErrUnknownDriver is returned when push.driver names no registered driver.
	ErrUnknownDriver = errors.New("push: driver not registered")
)
