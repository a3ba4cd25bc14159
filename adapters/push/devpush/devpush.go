// Package devpush holds the push drivers that send nothing: "log" writes
// one log line per message, for development, and "none" drops every
// message.
package devpush

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/push"
)

// Log is the "log" driver's Sender.
type Log struct{ log *slog.Logger }

// NewLog returns a Sender that logs at info level.
func NewLog(log *slog.Logger) *Log { return &Log{log: log} }

// Send implements push.Sender: it logs the message and reports it sent.
func (l *Log) Send(ctx context.Context, sub push.Subscription, m push.Message) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	l.log.InfoContext(ctx, "web push (log driver: not sent)", "endpoint", sub.Endpoint, "ttl", m.TTL,
		"urgency", m.Urgency, "topic", m.Topic, "payload", string(m.Payload))
	return nil
}

// None is the "none" driver's Sender.
type None struct{}

// Send implements push.Sender: it drops the message.
func (None) Send(context.Context, push.Subscription, push.Message) error { return nil }

// Module registers the "log" and "none" drivers.
var Module = fx.Module("push.dev",
	push.AsDriver(func(log *slog.Logger) push.Driver {
		return push.Driver{Name: "log", Open: func(push.Config) (push.Sender, error) { return NewLog(log.With("push", "log")), nil }}
	}),
	push.AsDriver(func() push.Driver {
		return push.Driver{Name: "none", Open: func(push.Config) (push.Sender, error) { return None{}, nil }}
	}),
)
