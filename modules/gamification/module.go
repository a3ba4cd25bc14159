package gamification

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
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

func newService(store *Store, users user.Store, profiles *user.Service, q queue.Enqueuer, log *slog.Logger) *Service {
	return NewService(store, users, profiles, q, log)
}

func runRelay(lc fx.Lifecycle, svc *Service, cfg Config) {
	var cancel context.CancelFunc
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ctx, c := context.WithCancel(context.Background())
			cancel = c
			go func() { defer close(done); svc.relay(ctx, cfg.OutboxInterval) }()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
			case <-ctx.Done():
			}
			// The rows of notifications already queued go now, so that a
			// restart does not send them again.
			if err := svc.sweep(ctx); err != nil {
				svc.log.Warn("outbox sweep at stop; the relay re-sends these rows", "err", err)
			}
			return nil
		},
	})
}

// Module is the gamification module: catalogue and grants, the badge
// source of user profiles, the badge routes and the outbox relay. It needs
// the user module and a queue.Enqueuer.
var Module = fx.Module("gamification",
	config.Provide[Config]("gamification"),
	database.AsMigrations("gamification", migrations.FS),
	fx.Provide(
		NewStore,
		func(s *Store) user.BadgeSource { return s },
		newService,
		httpserver.AsEndpoints(NewHandlers),
	),
	fx.Invoke(runRelay),
)
