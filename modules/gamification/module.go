package gamification

import (
	"context"
	"log/slog"
	"time"

	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/modules/gamification/migrations"
	"github.com/tipbox/tipbox/modules/user"
)

// Config is the `gamification` section.
type Config struct {
	// OutboxInterval is how often the relay re-sends notifications left in
	// the outbox (after a crash or a queue outage), and how old a row must
	// be before the relay takes it.
	OutboxInterval time.Duration `yaml:"outbox_interval"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	if c.OutboxInterval == 0 {
		c.OutboxInterval = 2 * time.Second
	}
}

// Validate checks the interval.
func (c Config) Validate() error {
	if c.OutboxInterval < 10*time.Millisecond {
		return errorf("outbox_interval: %s is below 10ms", c.OutboxInterval)
	}
	return nil
}

func newService(store *Store, users *user.Service, q queue.Enqueuer, log *slog.Logger) *Service {
	return NewService(store, users, users, q, log)
}

// relayTask re-sends what the outbox holds, every outbox_interval.
func relayTask(svc *Service, cfg Config) func(context.Context) error {
	return func(ctx context.Context) error {
		svc.relay(ctx, cfg.OutboxInterval)
		// The rows of notifications already queued go now, so that a
		// restart does not send them again.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := svc.sweep(sctx); err != nil {
			svc.log.Warn("outbox sweep at stop; the relay re-sends these rows", "err", err)
		}
		return nil
	}
}

// Module is the gamification module: catalogue and grants, the badge
// source of user profiles, the badge routes and the outbox relay (in the
// API, where grants are made). It needs the user module and a
// queue.Enqueuer.
var Module = module.Spec{
	Name:       "gamification",
	Config:     module.Config[Config](),
	Migrations: migrations.FS,
	Queues:     []string{NotificationQueue},
	Provide: []any{
		NewStore,
		func(s *Store) user.BadgeSource { return s },
		newService,
	},
	Routes: []any{NewRoutes},
	Tasks:  []module.Task{{Name: "outbox_relay", In: module.API, Run: relayTask}},
}
