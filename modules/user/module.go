package user

import (
	"context"
	"errors"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/modules/user/migrations"
)

// CacheName labels the profile cache's metrics.
const CacheName = "user_profile"

// NewProfileCache returns the cache-aside reader for profiles, configured
// by the cache section; a not-found user is cached briefly.
func NewProfileCache(store cache.Store, cfg cache.Config, log *slog.Logger, m *cache.Metrics) *cache.Aside[Profile] {
	opts := cfg.AsideOptions()
	opts.NotFound = ErrNotFound
	opts.IsNotFound = func(err error) bool { return errors.Is(err, ErrNotFound) }
	return cache.NewAside[Profile](CacheName, store, opts, log, m)
}

type serviceParams struct {
	fx.In
	Store  Store
	Aside  *cache.Aside[Profile]
	Badges BadgeSource `optional:"true"`
	Log    *slog.Logger
}

func newService(p serviceParams) *Service { return NewService(p.Store, p.Aside, p.Badges, p.Log) }

// warmer runs profile warming at start and gates readiness on it for at
// most cache.warm.readiness_budget.
type warmer struct {
	w *cache.Warmup
}

func startWarming(lc fx.Lifecycle, svc *Service, cfg cache.Config, log *slog.Logger) *warmer {
	wm := &warmer{}
	if cfg.Warm.Count <= 0 {
		return wm
	}
	var cancel context.CancelFunc
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ctx, c := context.WithCancel(context.Background())
			cancel = c
			ids, err := svc.WarmIDs(ctx, cfg.Warm.Count)
			if err != nil {
				log.Error("profile warming: listing users failed", "err", err)
				return nil
			}
			wm.w = cache.Warm(ctx, log.With("cache", CacheName), ids, cfg.Warm.Concurrency, cfg.Warm.ReadinessBudget,
				func(ctx context.Context, id int64) error {
					_, _, err := svc.Profile(ctx, id)
					return err
				})
			return nil
		},
		OnStop: func(context.Context) error {
			if cancel != nil {
				cancel()
			}
			if wm.w != nil {
				wm.w.Stop()
			}
			return nil
		},
	})
	return wm
}

var errWarming = errors.New("user: profile cache warming in progress")

func warmChecker(wm *warmer) health.Checker {
	return health.Checker{Name: "warmup", Critical: true, Unlisted: true, Check: func(context.Context) error {
		if wm.w != nil && !wm.w.Ready() {
			return errWarming
		}
		return nil
	}}
}

// StoreModule is the users table (migrations) and its Store, for a process
// that reads users without serving them (cmd/worker: email addresses).
var StoreModule = fx.Module("user.store",
	database.AsMigrations("user", migrations.FS),
	fx.Provide(fx.Annotate(NewSQLStore, fx.As(new(Store)))),
)

// Module is the user module: its store (StoreModule), profile cache,
// service (also as the profile invalidation hook for other modules),
// routes, and start-up warming.
var Module = fx.Module("user",
	StoreModule,
	fx.Provide(
		NewProfileCache,
		newService,
		startWarming,
	),
	health.AsChecker(warmChecker),
	httpserver.AsEndpoints(NewHandlers),
	fx.Invoke(func(*warmer) {}),
)
