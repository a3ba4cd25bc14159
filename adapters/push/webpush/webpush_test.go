package webpush_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/push/webpush"
	"github.com/tipbox/tipbox/core/push"
	"github.com/tipbox/tipbox/internal/pushtest"
)

func newSender(t *testing.T, svc *pushtest.Service) (*webpush.Sender, string) {
	t.Helper()
	priv, pub, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	cfg := push.Config{Driver: "webpush", VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subject: "mailto:ops@example.com"}
	cfg.SetDefaults()
	s, err := webpush.New(cfg, svc.Client())
	if err != nil {
		t.Fatal(err)
	}
	svc.VAPIDPublicKey = pub
	return s, pub
}

// The receiving service decrypts the payload with the subscription's
// private key (RFC 8291) and verifies the VAPID token (RFC 8292); TTL and
// urgency arrive as headers.
func TestSendIsDecryptableAndSigned(t *testing.T) {
	t.Parallel()
	svc := pushtest.Start(t, "")
	s, _ := newSender(t, svc)
	payload := `{"type":"NEW_BADGE","badgeName":"İlk Gönderi","badgeIcon":"🎯"}`
	msg := push.Message{Payload: []byte(payload), TTL: 7 * 24 * time.Hour, Urgency: push.UrgencyHigh, Topic: "badges"}
	if err := s.Send(t.Context(), svc.Subscription(), msg); err != nil {
		t.Fatalf("send: %v (service errors %v)", err, svc.Errors())
	}
	got := svc.Received()
	if len(got) != 1 || string(got[0].Payload) != payload {
		t.Fatalf("received %+v, errors %v", got, svc.Errors())
	}
	if got[0].TTL != "604800" || got[0].Urgency != "high" || got[0].Topic != "badges" || got[0].Subject != "mailto:ops@example.com" {
		t.Fatalf("headers %+v", got[0])
	}
	if string(msg.Payload) != payload {
		t.Fatal("Send changed the caller's payload")
	}
}

// A token signed by another key is refused by the service: the check is real.
func TestServiceRefusesAnotherKey(t *testing.T) {
	t.Parallel()
	svc := pushtest.Start(t, "")
	s, _ := newSender(t, svc)
	_, other, _ := webpush.GenerateKeys()
	svc.VAPIDPublicKey = other
	err := s.Send(t.Context(), svc.Subscription(), push.Message{Payload: []byte("x")})
	if !errors.Is(err, push.ErrPermanent) || len(svc.Errors()) != 1 || !strings.Contains(svc.Errors()[0], "vapid") {
		t.Fatalf("err %v, service errors %v", err, svc.Errors())
	}
}

// The service's answer decides: 404/410 gone, 429/5xx temporary, other
// 4xx permanent.
func TestStatusesAreClassified(t *testing.T) {
	t.Parallel()
	svc := pushtest.Start(t, "")
	s, _ := newSender(t, svc)
	for _, c := range []struct {
		status          int
		gone, permanent bool
	}{
		{http.StatusGone, true, true},
		{http.StatusNotFound, true, true},
		{http.StatusTooManyRequests, false, false},
		{http.StatusBadGateway, false, false},
		{http.StatusRequestEntityTooLarge, false, true},
		{http.StatusCreated, false, false},
	} {
		svc.SetStatus(c.status)
		err := s.Send(t.Context(), svc.Subscription(), push.Message{Payload: []byte("x"), TTL: time.Minute})
		if errors.Is(err, push.ErrGone) != c.gone || errors.Is(err, push.ErrPermanent) != c.permanent || (c.status == 201) != (err == nil) {
			t.Errorf("status %d: %v", c.status, err)
		}
	}
}

// A service that does not answer is a temporary failure; so is one that
// cannot be reached.
func TestUnreachableIsTemporary(t *testing.T) {
	t.Parallel()
	svc := pushtest.Start(t, "")
	s, _ := newSender(t, svc)
	sub := svc.Subscription()
	sub.Endpoint = "https://127.0.0.1:1/push"
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := s.Send(ctx, sub, push.Message{Payload: []byte("x")})
	if err == nil || errors.Is(err, push.ErrPermanent) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestInvalidSubscriptionsAndConfig(t *testing.T) {
	t.Parallel()
	svc := pushtest.Start(t, "")
	s, _ := newSender(t, svc)
	sub := svc.Subscription()
	sub.Endpoint = "http://insecure.example.com/x"
	if err := s.Send(t.Context(), sub, push.Message{}); !errors.Is(err, push.ErrInvalid) {
		t.Fatalf("http endpoint: %v", err)
	}
	sub = svc.Subscription()
	sub.Auth = "c2hvcnQ"
	if err := s.Send(t.Context(), sub, push.Message{}); !errors.Is(err, push.ErrInvalid) {
		t.Fatalf("short auth: %v", err)
	}
	big := push.Message{Payload: make([]byte, 5000)}
	if err := s.Send(t.Context(), svc.Subscription(), big); !errors.Is(err, push.ErrInvalid) {
		t.Fatalf("oversized payload: %v", err)
	}
	priv, _, _ := webpush.GenerateKeys()
	_, pub2, _ := webpush.GenerateKeys()
	cfg := push.Config{VAPIDPrivateKey: priv, VAPIDPublicKey: pub2}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "vapid_public_key:") {
		t.Fatalf("mismatched pair: %v", err)
	}
	cfg = push.Config{}
	cfg.SetDefaults()
	if _, err := webpush.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "vapid_private_key") {
		t.Fatalf("no keys: %v", err)
	}
}
