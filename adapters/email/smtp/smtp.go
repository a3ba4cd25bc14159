// Package smtp is the email driver "smtp": messages go to a submission
// server through github.com/wneessen/go-mail, over a small pool of open
// connections (STARTTLS and AUTH as configured).
//
// Replies are sorted for the caller: a 5xx reply to the message (MAIL,
// RCPT, DATA) is email.ErrPermanent; a 4xx reply, a timeout, a dropped or
// refused connection, and any failure while connecting or authenticating
// (a server or configuration problem, not the message's) are temporary. A
// failure after the server accepted the message (the reset that readies
// the connection for the next one) is no error: the message was sent.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/email"
)

// Sender is an email.Sender over pooled SMTP connections. Safe for
// concurrent use; Close ends the idle connections.
type Sender struct {
	cfg    Config
	client *gomail.Client // settings only; connections are dialled per pool slot
	log    *slog.Logger

	slots chan struct{} // one token per connection that may be in use
	mu    sync.Mutex
	idle  []*conn
	done  bool
}

type conn struct {
	c        *gosmtp.Client
	lastUsed time.Time
}

// New returns a Sender for cfg (defaults applied). It does not connect:
// connections are opened by the first sends.
func New(cfg Config, log *slog.Logger) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("email.smtp: %w", err)
	}
	opts := []gomail.Option{gomail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithPort(cfg.Port), gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithPort(cfg.Port), gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithPort(cfg.Port), gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithPort(cfg.Port))
	}
	if cfg.Helo != "" {
		opts = append(opts, gomail.WithHELO(cfg.Helo))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("email.smtp: %w", err)
	}
	return &Sender{cfg: cfg, client: c, log: log, slots: make(chan struct{}, cfg.PoolSize)}, nil
}

// reserved are the header fields the Sender writes itself.
var reserved = map[string]bool{"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "mime-version": true, "content-type": true, "content-transfer-encoding": true}

func build(m email.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("%w: from %q: %v", email.ErrInvalid, m.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("%w: to %q: %v", email.ErrInvalid, m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	for k, v := range m.Headers {
		if reserved[strings.ToLower(k)] || strings.ContainsAny(k+v, "\r\n") {
			return nil, fmt.Errorf("%w: header %q cannot be set", email.ErrInvalid, k)
		}
		msg.SetGenHeaderPreformatted(gomail.Header(k), v)
	}
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, nil
}

// Send implements email.Sender.
func (s *Sender) Send(ctx context.Context, m email.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	msg, err := build(m)
	if err != nil {
		return err
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.slots }()

	// A pooled connection the server has dropped fails the NOOP that
	// starts every send; then the message goes on a fresh connection.
	for retried := false; ; retried = true {
		c, fresh, err := s.take(ctx)
		if err != nil {
			return fmt.Errorf("smtp: connect to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
		}
		if err := ctx.Err(); err != nil {
			s.put(c)
			return err
		}
		err = s.send(c, msg)
		if err == nil {
			s.put(c)
			return nil
		}
		_ = c.c.Close() // after an error the session's state is unknown
		if msg.IsDelivered() {
			// The server took the message (250 to its DATA); what failed
			// is the reset after it. Reporting an error would have the
			// caller send the message again.
			s.log.Warn("smtp: connection failed after the message was accepted", "err", err)
			return nil
		}
		var se *gomail.SendError
		if !fresh && !retried && errors.As(err, &se) && se.Reason == gomail.ErrConnCheck {
			continue
		}
		return classify(err)
	}
}

// send runs one transaction. go-mail holds the client's lock through each
// network read, so a context cannot interrupt one; Timeout bounds it
// instead (the deadline is set for the whole transaction).
func (s *Sender) send(c *conn, msg *gomail.Msg) error {
	return s.client.SendWithSMTPClient(c.c, msg)
}

// classify marks 5xx replies permanent.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code <= 599 {
			return fmt.Errorf("%w: smtp: %v", email.ErrPermanent, err)
		}
	}
	return fmt.Errorf("smtp: %w", err)
}

// take returns an idle connection still fresh enough, or dials one.
func (s *Sender) take(ctx context.Context) (*conn, bool, error) {
	now := time.Now()
	s.mu.Lock()
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(c.lastUsed) < s.cfg.IdleTimeout {
			s.mu.Unlock()
			return c, false, nil
		}
		go func() { _ = c.c.Close() }()
	}
	s.mu.Unlock()
	sc, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, true, err
	}
	return &conn{c: sc}, true, nil
}

func (s *Sender) put(c *conn) {
	c.lastUsed = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		go func() { _ = s.client.CloseWithSMTPClient(c.c) }()
		return
	}
	s.idle = append(s.idle, c)
}

// Close quits the idle connections; connections in use are closed when
// their send ends.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.done = nil, true
	s.mu.Unlock()
	var errs []error
	for _, c := range idle {
		if err := s.client.CloseWithSMTPClient(c.c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NewDriver returns the "smtp" driver over cfg.
func NewDriver(cfg Config, log *slog.Logger) email.Driver {
	return email.Driver{Name: "smtp", Open: func() (email.Sender, error) {
		return New(cfg, log.With("email", "smtp"))
	}}
}

// Module registers the "smtp" driver and the section email.smtp.
var Module = fx.Module("email.smtp",
	config.Provide[Config]("email.smtp"),
	email.AsDriver(NewDriver),
)
