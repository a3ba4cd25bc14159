package cachetest

import (
	"context"
	"errors"
	"math/rand"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
)

// Profile is a value shaped like a user profile (~300 bytes of JSON), for
// benchmarks.
type Profile struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"displayName"`
	Bio         string    `json:"bio"`
	Badges      []Badge   `json:"badges"`
	BadgeCount  int       `json:"badgeCount"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Badge is part of Profile.
type Badge struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Icon      string    `json:"icon"`
	GrantedAt time.Time `json:"grantedAt"`
}

// NewProfile returns the profile of user id.
func NewProfile(id int64) Profile {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return Profile{
		ID: id, Username: "user" + strconv.FormatInt(id, 10), DisplayName: "User Number " + strconv.FormatInt(id, 10),
		Bio:        "Writes Go, reads Redis docs, collects badges.",
		Badges:     []Badge{{ID: 1, Name: "First Post", Icon: "🎯", GrantedAt: ts}},
		BadgeCount: 1, CreatedAt: ts, UpdatedAt: ts,
	}
}

// ProfileJSON is NewProfile(id) encoded as the cache stores it.
func ProfileJSON(id int64) []byte {
	data, _ := cache.JSON{}.Marshal(NewProfile(id))
	return data
}

// Parallelism is the goroutines per core the benchmarks run (b.SetParallelism):
// more than one, so that a remote store is measured by throughput, as a
// server with concurrent requests uses it, not by one client's latency.
const Parallelism = 4

// BenchGetHit measures Store.Get of a present key, from parallel goroutines.
func BenchGetHit(b *testing.B, s cache.Store) {
	ctx := context.Background()
	const keys = 1000
	for i := range keys {
		if err := s.Set(ctx, "bench:"+strconv.Itoa(i), ProfileJSON(int64(i)), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	// Warm every tier (a tiered L1 fills on read).
	for i := range keys {
		if _, err := s.Get(ctx, "bench:"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(Parallelism)
	b.ResetTimer()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 7919)
		for pb.Next() {
			i++
			if _, err := s.Get(ctx, "bench:"+strconv.Itoa(i%keys)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchGetMiss measures Store.Get of an absent key, from parallel goroutines.
func BenchGetMiss(b *testing.B, s cache.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(Parallelism)
	b.ResetTimer()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 1_000_000)
		for pb.Next() {
			i++
			if _, err := s.Get(ctx, "absent:"+strconv.Itoa(i)); !errors.Is(err, cache.ErrMiss) {
				b.Errorf("Get(absent) = %v", err)
				return
			}
		}
	})
}

// BenchAsideHit measures Aside.Get of a cached profile (decode included).
func BenchAsideHit(b *testing.B, s cache.Store) {
	ctx := context.Background()
	a := cache.NewAside[Profile]("bench", s, cache.AsideOptions{TTL: time.Hour}, nil, nil)
	const keys = 1000
	load := func(id int64) func(context.Context) (Profile, error) {
		return func(context.Context) (Profile, error) { return NewProfile(id), nil }
	}
	for i := range keys {
		for range 2 { // store, then warm every tier
			if _, _, err := a.Get(ctx, "user:"+strconv.Itoa(i)+":profile", load(int64(i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.SetParallelism(Parallelism)
	b.ResetTimer()
	var seq atomic.Int64
	var misses atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 7919)
		for pb.Next() {
			i++
			id := i % keys
			_, st, err := a.Get(ctx, "user:"+strconv.Itoa(id)+":profile", load(int64(id)))
			if err != nil {
				b.Error(err)
				return
			}
			if st != cache.StatusHit {
				misses.Add(1)
			}
		}
	})
	b.ReportMetric(float64(misses.Load())/float64(b.N), "non-hits/op")
}

// Zipf returns a generator of key ids in [0, n) following Zipf(s) (rank 0
// most popular), deterministic for seed.
func Zipf(seed int64, s float64, n uint64) func() uint64 {
	z := rand.NewZipf(rand.New(rand.NewSource(seed)), s, 1, n-1)
	return z.Uint64
}

// BenchAsideMiss measures Aside.Get of a key never seen before: the store
// read, the load (a constant profile: no database) and the store write.
func BenchAsideMiss(b *testing.B, s cache.Store) {
	ctx := context.Background()
	a := cache.NewAside[Profile]("bench", s, cache.AsideOptions{TTL: time.Minute}, nil, nil)
	b.ReportAllocs()
	b.SetParallelism(Parallelism)
	b.ResetTimer()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := seq.Add(1)
			_, st, err := a.Get(ctx, "miss:"+strconv.FormatInt(id, 10), func(context.Context) (Profile, error) {
				return NewProfile(id), nil
			})
			if err != nil || st != cache.StatusMiss {
				b.Errorf("Get = %s, %v", st, err)
				return
			}
		}
	})
}
