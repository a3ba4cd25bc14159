// Package devmail holds the email drivers that send nothing: "log" writes
// one log line per message (recipient, subject, headers, body sizes) for
// development, and "none" drops every message.
package devmail

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/email"
)

// Log is the "log" driver's Sender.
type Log struct{ log *slog.Logger }

// NewLog returns a Sender that logs at info level.
func NewLog(log *slog.Logger) *Log { return &Log{log: log} }

// Send implements email.Sender: it logs the message and reports it sent.
func (l *Log) Send(ctx context.Context, m email.Message) error {
	l.log.InfoContext(ctx, "email (log driver: not sent)", "from", m.From, "to", m.To, "subject", m.Subject,
		"headers", m.Headers, "text_bytes", len(m.Text), "html_bytes", len(m.HTML))
	return nil
}

// None is the "none" driver's Sender.
type None struct{}

// Send implements email.Sender: it drops the message.
func (None) Send(context.Context, email.Message) error { return nil }

// Module registers the "log" and "none" drivers.
var Module = fx.Module("email.dev",
	email.AsDriver(func(log *slog.Logger) email.Driver {
		return email.Driver{Name: "log", Open: func() (email.Sender, error) { return NewLog(log.With("email", "log")), nil }}
	}),
	email.AsDriver(func() email.Driver {
		return email.Driver{Name: "none", Open: func() (email.Sender, error) { return None{}, nil }}
	}),
)
