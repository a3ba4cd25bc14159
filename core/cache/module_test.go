package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
)

type checkers struct {
	fx.In
	All []health.Checker `group:"health.checkers"`
}

func fakeDriver(name string, s cache.Store) fx.Option {
	return cache.AsDriver(func() cache.Driver {
		return cache.Driver{Name: name, Open: func(context.Context) (cache.Store, error) { return s, nil }}
	})
}

func newApp(t *testing.T, profile string, opts ...fx.Option) *fxtest.App {
	src, err := config.Parse("test", []byte(profile), nil)
	if err != nil {
		t.Fatal(err)
	}
	return fxtest.New(t, append([]fx.Option{
		fx.NopLogger,
		config.Module(src),
		fx.Supply(slog.New(slog.DiscardHandler)),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		cache.Module,
	}, opts...)...)
}

func TestModulePicksDriverAndContributesChecker(t *testing.T) {
	t.Parallel()
	fast, other := newFakeStore(), newFakeStore()
	var got cache.Store
	var cfg cache.Config
	var cs checkers
	app := newApp(t, "cache:\n  driver: fast\n  default_ttl: 2h\n  breaker:\n    failures: 3\n",
		fakeDriver("fast", fast), fakeDriver("other", other),
		fx.Populate(&got, &cfg, &cs),
	)
	app.RequireStart()
	defer app.RequireStop()
	if got != cache.Store(fast) {
		t.Fatalf("store %p, want the fast driver's %p", got, fast)
	}
	if cfg.DefaultTTL.Hours() != 2 || cfg.Breaker.Failures != 3 || cfg.NegativeTTL == 0 || cfg.Warm.Concurrency == 0 {
		t.Fatalf("config %+v", cfg)
	}
	if o := cfg.AsideOptions(); o.TTL != cfg.DefaultTTL || o.Breaker.Failures != 3 {
		t.Fatalf("AsideOptions %+v", o)
	}
	var c *health.Checker
	for i := range cs.All {
		if cs.All[i].Name == "cache" {
			c = &cs.All[i]
		}
	}
	if c == nil || c.Critical {
		t.Fatalf("checkers %+v: want a non-critical \"cache\"", cs.All)
	}
	fast.down.Store(true)
	if err := c.Check(context.Background()); err == nil {
		t.Fatal("checker up while the store is down")
	}
}

func TestModuleUnknownDriver(t *testing.T) {
	t.Parallel()
	src, err := config.Parse("test", []byte("cache:\n  driver: memcached\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	app := fx.New(fx.NopLogger,
		config.Module(src),
		fx.Supply(slog.New(slog.DiscardHandler)),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		cache.Module,
		fakeDriver("memory", newFakeStore()), fakeDriver("redis", newFakeStore()),
		fx.Invoke(func(cache.Store) {}),
	)
	err = app.Err()
	if !errors.Is(err, cache.ErrUnknownDriver) {
		t.Fatalf("err = %v, want ErrUnknownDriver", err)
	}
	for _, want := range []string{"cache.driver", `"memcached"`, "memory, redis"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not mention %s", err, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile, want string
	}{
		{"cache:\n  jitter: 1.5\n", "cache.jitter"},
		{"cache:\n  breaker:\n    failures: -3\n", "cache.breaker.failures"},
		{"cache:\n  warm:\n    count: -1\n", "cache.warm.count"},
	} {
		src, err := config.Parse("test", []byte(tc.profile), nil)
		if err != nil {
			t.Fatal(err)
		}
		var c cache.Config
		err = src.Decode("cache", &c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%q: err = %v, want one naming %s", tc.profile, err, tc.want)
		}
	}
}
