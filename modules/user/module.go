package user

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/modules/user/migrations"
)

// CacheName labels the profile cache's metrics.
const CacheName = "user_profile"

// ProfileCache is the cache-aside reader of profiles (NewProfileCache).
type ProfileCache struct {
	aside *cache.Aside[cachedProfile]
}

// NewProfileCache returns the cache-aside reader for profiles, configured
// by the cache section; a not-found user is cached briefly. Entries are
// the profile's JSON under ProfileKey.
func NewProfileCache(store cache.Store, cfg cache.Config, log *slog.Logger, m *cache.Metrics) *ProfileCache {
	opts := cfg.AsideOptions()
	opts.NotFound = ErrNotFound
	opts.IsNotFound = func(err error) bool { return errors.Is(err, ErrNotFound) }
	opts.Codec = profileCodec{}
	return &ProfileCache{aside: cache.NewAside[cachedProfile](CacheName, store, opts, log, m)}
}

type serviceParams struct {
	fx.In
	Store  Store
	Cache  *ProfileCache
	Badges BadgeSource `optional:"true"`
	Log    *slog.Logger
}

func newService(p serviceParams) *Service { return NewService(p.Store, p.Cache, p.Badges, p.Log) }

// warmer is the state of profile warming, which gates readiness for at
// most cache.warm.readiness_budget. It stays idle in a process that does
// not run the warm task (a worker).
type warmer struct {
	mu      sync.Mutex
	pending bool // the warm task is placed and has not finished listing
	w       *cache.Warmup
}

func (wm *warmer) ready() bool {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	return !wm.pending && (wm.w == nil || wm.w.Ready())
}

func newWarmer() *warmer { return &warmer{} }

// warmTask warms the profiles of the most recent users at start. Building
// it marks warming pending, so readiness waits for it from the first
// probe on.
func warmTask(wm *warmer, svc *Service, cfg cache.Config, log *slog.Logger) func(context.Context) error {
	if cfg.Warm.Count <= 0 {
		return func(context.Context) error { return nil }
	}
	wm.pending = true
	return func(ctx context.Context) error {
		ids, err := svc.WarmIDs(ctx, cfg.Warm.Count)
		if err != nil {
			log.Error("profile warming: listing users failed", "err", err)
			wm.mu.Lock()
			wm.pending = false
			wm.mu.Unlock()
			return nil
		}
		w := cache.Warm(ctx, log.With("cache", CacheName), ids, cfg.Warm.Concurrency, cfg.Warm.ReadinessBudget,
			func(ctx context.Context, id int64) error {
				_, _, err := svc.Profile(ctx, id)
				return err
			})
		wm.mu.Lock()
		wm.pending, wm.w = false, w
		wm.mu.Unlock()
		<-ctx.Done()
		w.Stop()
		return nil
	}
}

var errWarming = errors.New("user: profile cache warming in progress")

func warmChecker(wm *warmer) health.Checker {
	return health.Checker{Name: "warmup", Critical: true, Unlisted: true, Check: func(context.Context) error {
		if !wm.ready() {
			return errWarming
		}
		return nil
	}}
}

// Module is the user module: the users table and its Store, the profile
// cache, the service (also the profile invalidation hook of other
// modules), the routes, and profile warming in the API.
var Module = module.Spec{
	Name:       "user",
	Migrations: migrations.FS,
	Provide: []any{
		fx.Annotate(NewSQLStore, fx.As(new(Store))),
		NewProfileCache,
		newService,
		newWarmer,
	},
	Routes: []any{NewRoutes},
	Checks: []any{warmChecker},
	Tasks:  []module.Task{{Name: "warm", In: module.API, Run: warmTask}},
}
