package tiered_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/tipbox/tipbox/adapters/cache/memory"
	cacheredis "github.com/tipbox/tipbox/adapters/cache/redis"
	"github.com/tipbox/tipbox/adapters/cache/tiered"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/internal/testenv"
)

func modules(src *config.Source) fx.Option {
	return fx.Options(
		fx.NopLogger,
		config.Module(src),
		fx.Supply(slog.New(slog.DiscardHandler)),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		redisconn.Module,
		cache.Module, memory.Module, cacheredis.Module, tiered.Module,
	)
}

// startStore starts the cache modules on profile and returns the store
// cache.driver picked.
func startStore(t *testing.T, profile string) (cache.Store, *fxtest.App) {
	t.Helper()
	src, err := config.Parse("test", []byte(profile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var s cache.Store
	app := fxtest.New(t, modules(src), fx.Populate(&s))
	app.RequireStart()
	return s, app
}

// Each driver is chosen by cache.driver through fx, with its own section.
func TestDriversThroughFx(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	prefix := testenv.Prefix(t)
	for _, tc := range []struct {
		driver, section string
		want            string
	}{
		{"memory", "  memory:\n    max_entries: 50\n", "*memory.Store"},
		{"redis", "  redis:\n    prefix: \"" + prefix + "\"\n", "*redis.Store"},
		{"tiered", "  tiered:\n    prefix: \"" + prefix + "\"\n    l1_max_entries: 50\n", "*tiered.Store"},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			t.Parallel()
			profile := "redis:\n  url: redis://" + addr + "/0\ncache:\n  driver: " + tc.driver + "\n" + tc.section
			s, app := startStore(t, profile)
			if got := fmt.Sprintf("%T", s); got != tc.want {
				t.Fatalf("store %s, want %s", got, tc.want)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			app.RequireStop()
			if err := s.Ping(context.Background()); err == nil {
				t.Fatal("store still open after the app stopped")
			}
		})
	}
}

func TestUnknownAdapterKeyRejected(t *testing.T) {
	t.Parallel()
	src, err := config.Parse("test", []byte("cache:\n  driver: memory\n  memory:\n    max_entrys: 5\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = fx.New(modules(src), fx.Invoke(func(cache.Store) {})).Err()
	if err == nil || !strings.Contains(err.Error(), "cache.memory.max_entrys") {
		t.Fatalf("err = %v, want one naming cache.memory.max_entrys", err)
	}
}

// A profile that sets only cache.redis.prefix (written for the redis
// driver) keeps its keys, and its invalidation channel, under that prefix
// when it runs the tiered driver; cache.tiered.prefix wins when set.
func TestTieredFallsBackToRedisPrefix(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	for _, tc := range []struct{ name, section, want string }{
		{"redis prefix", "  redis:\n    prefix: \"{p}r:\"\n", "{p}r:"},
		{"tiered prefix", "  redis:\n    prefix: \"{p}r:\"\n  tiered:\n    prefix: \"{p}t:\"\n", "{p}t:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := testenv.Prefix(t)
			t.Cleanup(func() { testenv.DeleteKeys(t, addr, prefix) })
			section := strings.ReplaceAll(tc.section, "{p}", prefix)
			profile := "redis:\n  url: redis://" + addr + "/0\ncache:\n  driver: tiered\n" + section
			s, app := startStore(t, profile)
			defer app.RequireStop()
			ctx := context.Background()
			if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
			c := goredis.NewClient(&goredis.Options{Addr: addr})
			defer c.Close()
			want := strings.ReplaceAll(tc.want, "{p}", prefix)
			if n, err := c.Exists(ctx, want+"k").Result(); err != nil || n != 1 {
				t.Fatalf("key %q: exists %d, %v", want+"k", n, err)
			}
		})
	}
}
