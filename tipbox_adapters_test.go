package tipbox_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/adapters/cache/memory"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/tipboxtest"
)

// counted is a third party's cache driver: the in-process store, counting
// what the application stores in it.
type counted struct {
	*memory.Store
	sets *atomic.Int64
}

func (c counted) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	c.sets.Add(1)
	return c.Store.Set(ctx, key, value, ttl)
}

// A driver of the third party's own, added with WithAdapters, is one that
// cache.driver may name: the program opens it and the application's reads
// go through it.
func TestWithAdaptersAddsADriver(t *testing.T) {
	t.Parallel()
	var sets atomic.Int64
	driver := cache.AsDriver(func() cache.Driver {
		return cache.Driver{Name: "counted", Open: func(context.Context) (cache.Store, error) {
			s, err := memory.New(memory.Config{})
			return counted{Store: s, sets: &sets}, err
		}}
	})
	app := tipboxtest.Start(t, tipbox.API(tipbox.WithAdapters(fx.Module("cache.counted", driver))), "cache:\n  driver: counted\n")
	if status, body := app.Do("GET", "/api/v1/users/1/profile", app.Token(1, ""), ""); status != 404 {
		t.Fatalf("profile: %d %s", status, body)
	}
	if sets.Load() == 0 {
		t.Fatal("the profile read stored nothing through the counted driver")
	}
}
