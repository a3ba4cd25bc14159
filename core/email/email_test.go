package email_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/email"
)

type recorder struct{ got []email.Message }

func (r *recorder) Send(_ context.Context, m email.Message) error {
	r.got = append(r.got, m)
	return nil
}

// New fills in From, refuses incomplete messages as permanent, and holds
// sends to the rate: past the burst a send waits, and gives up when its
// context ends first.
func TestNewDefaultsValidationAndLimit(t *testing.T) {
	t.Parallel()
	cfg := email.Config{RateLimit: 0.001, Burst: 1}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	s := email.New(cfg, r)
	if err := s.Send(t.Context(), email.Message{To: "a@example.com", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if r.got[0].From != "Tipbox <no-reply@localhost>" {
		t.Fatalf("from %q", r.got[0].From)
	}
	if err := s.Send(t.Context(), email.Message{To: "a@example.com"}); !email.IsPermanent(err) || !errors.Is(err, email.ErrInvalid) {
		t.Fatalf("no body: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Send(ctx, email.Message{To: "a@example.com", Text: "hi"}); err == nil || email.IsPermanent(err) || len(r.got) != 1 {
		t.Fatalf("over the rate: %v (%d sent)", err, len(r.got))
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  email.Config
		want string
	}{
		{email.Config{From: "not an address"}, "from:"},
		{email.Config{RateLimit: -1}, "rate_limit:"},
	} {
		c.cfg.SetDefaults()
		if err := c.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s", c.cfg, err, c.want)
		}
	}
}
