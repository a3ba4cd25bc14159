package tiered_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
			src, err := config.Parse("test", []byte(profile), nil)
			if err != nil {
				t.Fatal(err)
			}
			var s cache.Store
			app := fxtest.New(t, modules(src), fx.Populate(&s))
			app.RequireStart()
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
