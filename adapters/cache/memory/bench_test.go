package memory

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
)

func newBenchStore(b *testing.B, size int) *Store {
	s, err := New(Config{MaxEntries: size})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkGetHit(b *testing.B)    { cachetest.BenchGetHit(b, newBenchStore(b, 100_000)) }
func BenchmarkGetMiss(b *testing.B)   { cachetest.BenchGetMiss(b, newBenchStore(b, 100_000)) }
func BenchmarkAsideHit(b *testing.B)  { cachetest.BenchAsideHit(b, newBenchStore(b, 100_000)) }
func BenchmarkAsideMiss(b *testing.B) { cachetest.BenchAsideMiss(b, newBenchStore(b, 100_000)) }

// BenchmarkZipfHitRate: cache-aside reads of 100k keys following Zipf
// s=1.1, with the cache sized for 10% of them (10k entries). Reports the
// hit rate after a warm-up of 1M reads.
func BenchmarkZipfHitRate(b *testing.B) {
	const keys, size = 100_000, 10_000
	s := newBenchStore(b, size)
	ctx := context.Background()
	next := cachetest.Zipf(42, 1.1, keys)
	value := cachetest.ProfileJSON(1)
	read := func() bool {
		k := "user:" + strconv.FormatUint(next(), 10) + ":profile"
		if _, err := s.Get(ctx, k); err == nil {
			return true
		} else if !errors.Is(err, cache.ErrMiss) {
			b.Fatal(err)
		}
		_ = s.Set(ctx, k, value, time.Hour)
		return false
	}
	for range 1_000_000 {
		read()
	}
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for range b.N {
		if read() {
			hits++
		}
	}
	b.ReportMetric(100*float64(hits)/float64(b.N), "hit%")
}
