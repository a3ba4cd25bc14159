package memory

import (
	"context"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Store {
		s, err := New(Config{MaxEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, cachetest.Features{})
}

type profile struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// The decoded-value memo must never serve a value the store no longer holds.
func TestAsideMemoFollowsStore(t *testing.T) {
	t.Parallel()
	s, err := New(Config{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := cache.NewAside[profile]("p", s, cache.AsideOptions{}, nil, nil)
	ctx := context.Background()
	name := "v1"
	load := func(context.Context) (profile, error) { return profile{ID: 1, Name: name}, nil }
	for i, want := range []struct {
		name string
		st   cache.Status
	}{{"v1", cache.StatusMiss}, {"v1", cache.StatusHit}, {"v1", cache.StatusHit}} {
		v, st, err := a.Get(ctx, "k", load)
		if err != nil || v.Name != want.name || st != want.st {
			t.Fatalf("Get %d = %+v %s %v, want %s %s", i, v, st, err, want.name, want.st)
		}
	}
	// Another writer replaces the entry behind the Aside's back.
	if err := s.Set(ctx, "k", []byte(`{"id":1,"name":"v2"}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, st, _ := a.Get(ctx, "k", load); v.Name != "v2" || st != cache.StatusHit {
		t.Fatalf("after overwrite: %+v %s, want v2 HIT", v, st)
	}
	// A corrupt entry replacing a memoised one is still a miss.
	if err := s.Set(ctx, "k", []byte(`{"id":`), time.Minute); err != nil {
		t.Fatal(err)
	}
	name = "v3"
	if v, st, _ := a.Get(ctx, "k", load); v.Name != "v3" || st != cache.StatusMiss {
		t.Fatalf("after corruption: %+v %s, want v3 MISS", v, st)
	}
}
