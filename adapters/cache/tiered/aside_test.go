package tiered

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/internal/testenv"
)

type profile struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// TestTwoInstancesSeeUpdates: two API instances on one Redis, each with a
// cache-aside over its own tiered store. An update through one (database
// write + Invalidate) is what the other serves within 100 ms, although the
// other had the old profile in its L1.
func TestTwoInstancesSeeUpdates(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	prefix := testenv.Prefix(t)
	sa, sb := open(t, conn, prefix), open(t, conn, prefix)
	a := cache.NewAside[profile]("profile", sa, cache.AsideOptions{TTL: time.Minute}, nil, nil)
	b := cache.NewAside[profile]("profile", sb, cache.AsideOptions{TTL: time.Minute}, nil, nil)

	var db atomic.Value // the "database" both instances read
	db.Store(profile{ID: 1, Name: "v1"})
	load := func(context.Context) (profile, error) { return db.Load().(profile), nil }
	ctx := context.Background()
	const key = "user:1:profile"

	if _, st, _ := a.Get(ctx, key, load); st != cache.StatusMiss {
		t.Fatalf("a: %s, want MISS", st)
	}
	// b ends up with v1 in its L1.
	deadline := time.Now().Add(2 * time.Second)
	for !sb.l1.Contains(key) {
		if v, _, err := b.Get(ctx, key, load); err != nil || v.Name != "v1" {
			t.Fatalf("b: %+v, %v", v, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("b never cached the profile in its L1")
		}
	}
	if _, st, _ := b.Get(ctx, key, load); st != cache.StatusHit {
		t.Fatalf("b: %s, want HIT", st)
	}

	// Update through a.
	db.Store(profile{ID: 1, Name: "v2"})
	if err := a.Invalidate(ctx, key); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		v, _, err := b.Get(ctx, key, load)
		if err != nil {
			t.Fatal(err)
		}
		if v.Name == "v2" {
			break
		}
		if time.Since(start) > 100*time.Millisecond {
			t.Fatalf("b still serves %q %s after the update", v.Name, time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("update visible through the other instance after %s", time.Since(start))
	if v, st, _ := a.Get(ctx, key, load); v.Name != "v2" || st == cache.StatusBypass {
		t.Fatalf("a: %+v %s", v, st)
	}
}
