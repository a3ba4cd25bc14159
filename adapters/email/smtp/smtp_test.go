package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/tipbox/tipbox/adapters/email/smtp"
	emailport "github.com/tipbox/tipbox/core/email"
	"github.com/tipbox/tipbox/internal/smtptest"
	"github.com/tipbox/tipbox/internal/testenv"
)

func newSender(t testing.TB, srv *smtptest.Server, mod func(*smtp.Config)) *smtp.Sender {
	t.Helper()
	cfg := smtp.Config{Host: srv.Host, Port: srv.Port, TLS: smtp.TLSNone, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	cfg.SetDefaults()
	s, err := smtp.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func message(to string) emailport.Message {
	return emailport.Message{From: "Tipbox <no-reply@example.com>", To: to, Subject: "Yeni bir rozet kazandın: İlk Gönderi",
		Text: "Merhaba Ayşe,\n\n🎯 İlk Gönderi rozetini kazandın.\n", HTML: "<p>Merhaba <b>Ayşe</b></p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://example.com/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
}

// A message arrives with both parts decoded intact, the subject encoded
// and decoded back, and the extra headers as given.
func TestSendBothParts(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv, nil)
	if err := s.Send(t.Context(), message("ayse@example.com")); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ayse@example.com" || msgs[0].From != "no-reply@example.com" {
		t.Fatalf("messages %+v", msgs)
	}
	p, err := smtptest.Parse(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	want := message("")
	if p.Subject != want.Subject || p.Text != want.Text || p.HTML != want.HTML {
		t.Fatalf("parsed %+v", p)
	}
	if strings.Join(p.Parts, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v", p.Parts)
	}
	if p.Header.Get("List-Unsubscribe") != "<https://example.com/u/x>" || p.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers %v", p.Header)
	}
	if p.Header.Get("Message-Id") == "" || p.Header.Get("Date") == "" {
		t.Fatalf("no Message-ID or Date: %v", p.Header)
	}
}

// 4xx replies are temporary and the next try goes through; 5xx replies
// are permanent. The connection stays usable for the next message.
func TestRepliesAreClassified(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.SetReply(func(_ string, to []string, attempt int) *gosmtp.SMTPError {
		switch {
		case to[0] == "later@example.com" && attempt == 1:
			return smtptest.Reply451
		case to[0] == "nobody@example.com":
			return smtptest.Reply550
		}
		return nil
	})
	s := newSender(t, srv, nil)
	err := s.Send(t.Context(), message("later@example.com"))
	if err == nil || emailport.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("451: %v", err)
	}
	if err := s.Send(t.Context(), message("later@example.com")); err != nil {
		t.Fatalf("second try: %v", err)
	}
	err = s.Send(t.Context(), message("nobody@example.com"))
	if !emailport.IsPermanent(err) || !strings.Contains(err.Error(), "550") {
		t.Fatalf("550: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages accepted, want 1", n)
	}
}

// A pooled connection the server dropped while idle is replaced without
// failing the send; connections are reused otherwise.
func TestPoolReusesAndReconnects(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartWithIdle(t, 300*time.Millisecond)
	s := newSender(t, srv, func(c *smtp.Config) { c.PoolSize = 1 })
	for i := range 5 {
		if err := s.Send(t.Context(), message(fmt.Sprintf("u%d@example.com", i))); err != nil {
			t.Fatal(err)
		}
	}
	if c := srv.Connections(); c != 1 {
		t.Fatalf("%d connections for 5 sequential sends on a pool of 1", c)
	}
	// The server drops the idle connection; the next send finds the
	// pooled one dead and goes on a new one.
	testenv.Eventually(t, 5*time.Second, func() bool { return srv.Open() == 0 }, "the server kept the idle connection")
	if err := s.Send(t.Context(), message("again@example.com")); err != nil {
		t.Fatalf("send after the server dropped the connection: %v", err)
	}
	if c := srv.Connections(); c != 2 || len(srv.Messages()) != 6 {
		t.Fatalf("%d connections, %d messages; want 2 and 6", c, len(srv.Messages()))
	}
}

// A message the server accepted is sent, even when the connection fails
// right after (the reset that readies it for the next message): an error
// there would have the caller send it again. The next message goes on a
// fresh connection.
func TestAcceptedThenDroppedIsSent(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.HangUpAfterAccept()
	s := newSender(t, srv, func(c *smtp.Config) { c.PoolSize = 1 })
	for i := range 2 {
		if err := s.Send(t.Context(), message(fmt.Sprintf("u%d@example.com", i))); err != nil {
			t.Fatalf("message %d, accepted by the server: %v", i, err)
		}
	}
	if n, c := len(srv.Messages()), srv.Connections(); n != 2 || c != 2 {
		t.Fatalf("%d messages on %d connections, want 2 on 2", n, c)
	}
}

// A server that stops answering: the send gives up after the timeout
// with a temporary error (retried by the caller).
func TestTimeoutIsTemporary(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.StallData(t)
	s := newSender(t, srv, func(c *smtp.Config) { c.Timeout = 300 * time.Millisecond })
	start := time.Now()
	err := s.Send(t.Context(), message("a@example.com"))
	if err == nil || emailport.IsPermanent(err) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("stalled server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %s with a timeout of 300ms", d)
	}
}

// No server: a temporary error that names the address.
func TestUnreachableIsTemporary(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := newSender(t, &smtptest.Server{Host: "127.0.0.1", Port: port}, nil)
	err = s.Send(t.Context(), message("a@example.com"))
	if err == nil || emailport.IsPermanent(err) || !strings.Contains(err.Error(), fmt.Sprint(port)) {
		t.Fatalf("unreachable: %v", err)
	}
}

// A cancelled context ends a send at once.
func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Send(ctx, message("a@example.com")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// Bad messages are refused before any connection.
func TestInvalidMessages(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv, nil)
	bad := message("not an address")
	if err := s.Send(t.Context(), bad); !errors.Is(err, emailport.ErrInvalid) {
		t.Fatalf("bad address: %v", err)
	}
	bad = message("a@example.com")
	bad.Headers = map[string]string{"Subject": "x"}
	if err := s.Send(t.Context(), bad); !errors.Is(err, emailport.ErrInvalid) {
		t.Fatalf("reserved header: %v", err)
	}
	if srv.Connections() != 0 {
		t.Fatal("connected for an invalid message")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mod  func(*smtp.Config)
		want string
	}{
		{func(c *smtp.Config) { c.TLS = "ssl" }, "tls:"},
		{func(c *smtp.Config) { c.Port = 70000 }, "port:"},
		{func(c *smtp.Config) { c.Password = "x" }, "username:"},
		{func(c *smtp.Config) { c.PoolSize = 1000 }, "pool_size:"},
	} {
		cfg := smtp.Config{}
		cfg.SetDefaults()
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("want %s error, got %v", c.want, err)
		}
	}
}
