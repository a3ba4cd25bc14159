package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tipbox/tipbox/core/push"
	"github.com/tipbox/tipbox/core/queue"
)

// PushQueue is the queue of Web Push deliveries.
const PushQueue = "push"

// PushKind is how a notification type is pushed: how long the push
// service keeps it for an offline device, and how urgently it wakes one.
type PushKind struct {
	TTL     time.Duration
	Urgency push.Urgency
}

// PushKinds are the per-type settings; types not listed get DefaultPushKind.
var PushKinds = map[string]PushKind{
	// A badge is worth seeing for a week, but never worth waking a
	// device on a low battery.
	"NEW_BADGE": {TTL: 7 * 24 * time.Hour, Urgency: push.UrgencyNormal},
}

// DefaultPushKind applies to types PushKinds does not list.
var DefaultPushKind = PushKind{TTL: 24 * time.Hour, Urgency: push.UrgencyNormal}

// PushChannel sends notifications to every browser the user subscribed.
// The payload is the same JSON object the socket gets.
type PushChannel struct {
	sender push.Sender
	subs   *PrefStore
	log    *slog.Logger
}

// NewPushChannel returns the Web Push channel.
func NewPushChannel(sender push.Sender, subs *PrefStore, log *slog.Logger) *PushChannel {
	return &PushChannel{sender: sender, subs: subs, log: log.With("module", "notification", "channel", ChannelPush)}
}

// Name implements Channel.
func (*PushChannel) Name() string { return ChannelPush }

// Queue implements Channel.
func (*PushChannel) Queue() string { return PushQueue }

// Deliver implements Channel: one message per subscription. A
// subscription the push service says is gone (404, 410) is removed. The
// delivery counts as sent when one subscription took it; otherwise a
// temporary failure is retried (and may reach the others again) and
// anything else fails it.
func (c *PushChannel) Deliver(ctx context.Context, n Notification, _ Preferences) error {
	subs, err := c.subs.Subscriptions(ctx, n.UserID)
	if err != nil {
		return err
	}
	if len(subs) == 0 {
		return Skip("no push subscription")
	}
	frame := n
	frame.Channels = nil
	payload, err := frame.MarshalJSON()
	if err != nil {
		return queue.Permanent(err)
	}
	kind, ok := PushKinds[n.Type]
	if !ok {
		kind = DefaultPushKind
	}
	msg := push.Message{Payload: payload, TTL: kind.TTL, Urgency: kind.Urgency}
	sent, gone := 0, 0
	var temporary, permanent error
	for _, s := range subs {
		err := c.sender.Send(ctx, s.Keys, msg)
		switch {
		case err == nil:
			sent++
		case errors.Is(err, push.ErrGone):
			gone++
			if ferr := c.subs.Forget(ctx, s.Endpoint); ferr != nil {
				return ferr // retried: the subscription is still there to forget
			}
			c.log.InfoContext(ctx, "push subscription gone; removed", "user_id", n.UserID, "subscription_id", s.ID, "err", err)
		case errors.Is(err, push.ErrPermanent):
			permanent = err
		default:
			temporary = err
		}
	}
	switch {
	case sent > 0:
		if temporary != nil || permanent != nil {
			c.log.WarnContext(ctx, "push reached some subscriptions only", "user_id", n.UserID, "sent", sent,
				"temporary", temporary, "permanent", permanent)
		}
		return nil
	case temporary != nil:
		return fmt.Errorf("push: %w", temporary)
	case permanent != nil:
		return queue.Permanent(permanent)
	}
	return queue.Permanent(fmt.Errorf("push: every subscription (%d) is gone and was removed", gone))
}
