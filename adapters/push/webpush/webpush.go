// Package webpush is the push driver "webpush": it encrypts each message
// for the subscription (RFC 8291, aes128gcm), signs a VAPID token (RFC
// 8292) and posts to the push service, through
// github.com/SherClockHolmes/webpush-go.
//
// The service's answer is sorted for the caller: 2xx sent; 404 and 410
// push.ErrGone (forget the subscription); 429 and 5xx temporary; any other
// status push.ErrPermanent. Network failures are temporary.
package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	wp "github.com/SherClockHolmes/webpush-go"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/push"
)

// Sender is a push.Sender. Safe for concurrent use.
type Sender struct {
	cfg    push.Config
	client *http.Client
}

// New returns a Sender signing with cfg's VAPID pair. client may be nil
// (an http.Client with cfg.Timeout).
func New(cfg push.Config, client *http.Client) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if !cfg.HasKeys() {
		return nil, fmt.Errorf("push.vapid_private_key: the webpush driver needs a VAPID key pair (run `api vapid` for one)")
	}
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Sender{cfg: cfg, client: client}, nil
}

// Send implements push.Sender.
func (s *Sender) Send(ctx context.Context, sub push.Subscription, m push.Message) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	if m.Urgency != "" && !m.Urgency.Valid() {
		return fmt.Errorf("%w: urgency %q", push.ErrInvalid, m.Urgency)
	}
	opts := &wp.Options{
		HTTPClient: s.client,
		// The library writes "mailto:" itself unless the subject is https.
		Subscriber:      strings.TrimPrefix(s.cfg.Subject, "mailto:"),
		TTL:             int(m.TTL / time.Second),
		Urgency:         wp.Urgency(m.Urgency),
		Topic:           m.Topic,
		VAPIDPublicKey:  s.cfg.VAPIDPublicKey,
		VAPIDPrivateKey: s.cfg.VAPIDPrivateKey,
	}
	// The library appends padding to the payload's backing array: hand it
	// a clipped copy.
	payload := slices.Clip(slices.Clone(m.Payload))
	resp, err := wp.SendNotificationWithContext(ctx, payload, &wp.Subscription{
		Endpoint: sub.Endpoint, Keys: wp.Keys{Auth: sub.Auth, P256dh: sub.P256dh},
	}, opts)
	if err != nil {
		if ctx.Err() == nil && strings.Contains(err.Error(), "payload has exceeded") {
			return fmt.Errorf("%w: %v", push.ErrInvalid, err)
		}
		return fmt.Errorf("push: post to %s: %w", host(sub.Endpoint), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%w: %s answered %d", push.ErrGone, host(sub.Endpoint), code)
	case code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("push: %s answered %d (retry-after %q): %s", host(sub.Endpoint), code, resp.Header.Get("Retry-After"), body)
	default:
		return fmt.Errorf("%w: %s answered %d: %s", push.ErrPermanent, host(sub.Endpoint), code, body)
	}
}

func host(endpoint string) string {
	rest := strings.TrimPrefix(endpoint, "https://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// GenerateKeys returns a new VAPID key pair, base64url without padding:
// the values of push.vapid_private_key and push.vapid_public_key.
func GenerateKeys() (private, public string, err error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.RawURLEncoding.EncodeToString(k.Bytes()), base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// NewDriver returns the "webpush" driver.
func NewDriver() push.Driver {
	return push.Driver{Name: "webpush", Open: func(cfg push.Config) (push.Sender, error) { return New(cfg, nil) }}
}

// Module registers the "webpush" driver.
var Module = fx.Module("push.webpush", push.AsDriver(NewDriver))
