package notification

import (
	"context"
	"errors"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/modules/notification/migrations"
	"github.com/tipbox/tipbox/modules/user"
)

// Module is the notification module: the inbox and the channels'
// settings (stores, routes, the `notification` section), the inbox as the
// realtime replay History, and the queue handlers: the notifications
// queue's (inbox, socket push through the realtime Publisher, fan-out)
// and one per channel (emails, push), which need a user.Store for
// addresses, the email Sender and the push Sender.
var Module = module.Spec{
	Name:       "notification",
	Config:     module.Config[Config](),
	Migrations: migrations.FS,
	Queues:     []string{Queue, EmailQueue, PushQueue},
	Provide: []any{
		NewStore,
		NewPrefStore,
		NewSettings,
		func(a auth.Config, cfg Config) *Unsubscriber { return NewUnsubscriber(a.JWTSecret, cfg.PublicURL) },
		fx.Annotate(NewHistory, fx.As(new(realtime.History))),
	},
	// The worker side's wiring stays inside the module: other modules
	// see neither these adapters of other ports nor the channel group.
	Options: []fx.Option{fx.Provide(
		fx.Private,
		NewMetrics,
		func(p realtime.Publisher) Pusher { return p },
		func(s user.Store) Recipients { return userRecipients{s} },
		newTemplates,
		NewEmailChannel,
		NewPushChannel,
		fx.Annotate(func(c *EmailChannel) Channel { return c }, fx.ResultTags(`group:"notification.channels"`)),
		fx.Annotate(func(c *PushChannel) Channel { return c }, fx.ResultTags(`group:"notification.channels"`)),
		fx.Annotate(newHandler, fx.ParamTags(``, ``, ``, ``, ``, `group:"notification.channels"`)),
	)},
	Routes: []any{NewRoutes, NewChannelRoutes},
	// Where workers run, the deliveries of channel jobs cancelled before
	// they ran are recorded skipped (see CancelSweep).
	Tasks: []module.Task{{Name: "cancelled_deliveries", In: module.Workers, Run: cancelSweepTask}},
	Jobs: []any{
		func(h *Handler) queue.Handler { return h.QueueHandler() },
		func(c *EmailChannel, s *Store, p *PrefStore, set Settings, m *Metrics, log *slog.Logger) queue.Handler {
			return NewRunner(c, s, p, set, m, log).QueueHandler()
		},
		func(c *PushChannel, s *Store, p *PrefStore, set Settings, m *Metrics, log *slog.Logger) queue.Handler {
			return NewRunner(c, s, p, set, m, log).QueueHandler()
		},
	},
}

type cancelSweepIn struct {
	fx.In
	Store    *Store
	Queue    queue.Backend
	Channels []Channel `group:"notification.channels"`
	Metrics  *Metrics
	Log      *slog.Logger
}

func cancelSweepTask(in cancelSweepIn) func(context.Context) error {
	return NewCancelSweep(in.Store, in.Queue, in.Channels, in.Metrics, in.Log).Run
}

func newTemplates(cfg Config) (*Templates, error) {
	t, err := LoadTemplates(TemplatesFS)
	if err != nil {
		return nil, err
	}
	return t, t.Check(cfg.Types)
}

func newHandler(store *Store, p Pusher, prefs *PrefStore, q queue.Enqueuer, set Settings, chans []Channel, log *slog.Logger) *Handler {
	return NewHandler(store, p, &Fanout{Prefs: prefs, Queue: q, Channels: chans, Settings: set}, log)
}

// userRecipients reads addresses from the user module's store.
type userRecipients struct{ users user.Store }

func (u userRecipients) Recipient(ctx context.Context, id int64) (Recipient, error) {
	usr, err := u.users.Get(ctx, id)
	if errors.Is(err, user.ErrNotFound) {
		return Recipient{}, ErrNoRecipient
	}
	if err != nil {
		return Recipient{}, err
	}
	name := usr.DisplayName
	if name == "" {
		name = usr.Username
	}
	return Recipient{Email: usr.Email, Name: name}, nil
}
