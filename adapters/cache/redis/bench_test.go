package redis

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

func BenchmarkGetHit(b *testing.B)    { cachetest.BenchGetHit(b, newTestStore(b, sharedConn(b))) }
func BenchmarkGetMiss(b *testing.B)   { cachetest.BenchGetMiss(b, newTestStore(b, sharedConn(b))) }
func BenchmarkAsideHit(b *testing.B)  { cachetest.BenchAsideHit(b, newTestStore(b, sharedConn(b))) }
func BenchmarkAsideMiss(b *testing.B) { cachetest.BenchAsideMiss(b, newTestStore(b, sharedConn(b))) }

// latencies runs get from parallel goroutines and reports p50/p99 per call.
func latencies(b *testing.B, get func(i int)) {
	var mu sync.Mutex
	var all []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1<<16)
		i := 0
		for pb.Next() {
			i++
			start := time.Now()
			get(i)
			local = append(local, time.Since(start))
		}
		mu.Lock()
		all = append(all, local...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkNoCacheLoad is the baseline for BenchmarkAsideRedisDead: the
// loader called directly.
func BenchmarkNoCacheLoad(b *testing.B) {
	latencies(b, func(i int) {
		if _, err := loadProfile(int64(i % 1000))(context.Background()); err != nil {
			b.Error(err)
		}
	})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func loadProfile(id int64) func(context.Context) (cachetest.Profile, error) {
	return func(context.Context) (cachetest.Profile, error) { return cachetest.NewProfile(id), nil }
}

// BenchmarkAsideRedisDead: Aside.Get with its Redis killed and the breaker
// open (every call BYPASS): the cost over BenchmarkNoCacheLoad is what a
// dead cache adds per request.
func BenchmarkAsideRedisDead(b *testing.B) {
	// go-redis logs every failed dial; keep the benchmark's output a table.
	goredis.SetLogger(quiet{})
	srv := testenv.StartRedis(b)
	s, err := New(Config{}, redisconn.Config{URL: "redis://" + srv.Addr() + "/0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	a := cache.NewAside[cachetest.Profile]("bench", s, cache.AsideOptions{}, nil, nil)
	srv.Kill()
	ctx := context.Background()
	for a.BreakerState() != cache.BreakerOpen {
		_, _, _ = a.Get(ctx, "user:1:profile", loadProfile(1))
	}
	latencies(b, func(i int) {
		id := int64(i % 1000)
		_, st, err := a.Get(ctx, "user:"+strconv.FormatInt(id, 10)+":profile", loadProfile(id))
		if err != nil || st != cache.StatusBypass {
			b.Errorf("Get = %s, %v", st, err)
		}
	})
}
