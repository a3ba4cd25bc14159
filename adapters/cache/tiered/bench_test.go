package tiered

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

func benchStore(b *testing.B) *Store {
	return open(b, sharedConn(b), testenv.Prefix(b))
}

func BenchmarkGetHit(b *testing.B)    { cachetest.BenchGetHit(b, benchStore(b)) }
func BenchmarkGetMiss(b *testing.B)   { cachetest.BenchGetMiss(b, benchStore(b)) }
func BenchmarkAsideHit(b *testing.B)  { cachetest.BenchAsideHit(b, benchStore(b)) }
func BenchmarkAsideMiss(b *testing.B) { cachetest.BenchAsideMiss(b, benchStore(b)) }

// BenchmarkZipfHitRate: cache-aside reads of 100k keys following Zipf
// s=1.1 through a tiered store whose L1 holds 10% of them (10k entries),
// over its own Redis. Reports the share of reads served by L1 and by the
// cache as a whole (L1 or Redis), after a warm-up of 300k reads.
func BenchmarkZipfHitRate(b *testing.B) {
	const keys, size = 100_000, 10_000
	srv := testenv.StartRedis(b)
	s, err := New(Config{L1MaxEntries: size}, redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	testenv.Eventually(b, 5*time.Second, s.Live, "subscription not live")
	ctx := context.Background()
	next := cachetest.Zipf(42, 1.1, keys)
	value := cachetest.ProfileJSON(1)
	read := func() (l1, hit bool) {
		k := "user:" + strconv.FormatUint(next(), 10) + ":profile"
		l1 = s.l1.Contains(k)
		if _, err := s.Get(ctx, k); err == nil {
			return l1, true
		} else if !errors.Is(err, cache.ErrMiss) {
			b.Fatal(err)
		}
		if err := s.Set(ctx, k, value, time.Hour); err != nil {
			b.Fatal(err)
		}
		return false, false
	}
	for range 300_000 {
		read()
	}
	b.ReportAllocs()
	b.ResetTimer()
	l1Hits, hits := 0, 0
	for range b.N {
		l1, hit := read()
		if l1 {
			l1Hits++
		}
		if hit {
			hits++
		}
	}
	b.ReportMetric(100*float64(l1Hits)/float64(b.N), "L1-hit%")
	b.ReportMetric(100*float64(hits)/float64(b.N), "hit%")
}
