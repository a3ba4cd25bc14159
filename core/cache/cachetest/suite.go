// Package cachetest is the contract every cache.Store adapter must pass.
// An adapter's test calls Run with a constructor; the suite runs its cases
// in parallel, each on its own store and keys.
package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
)

// Features says what an adapter promises beyond the common contract.
type Features struct {
	// ExpiryGrace is how late after its TTL an entry may still be served
	// (Redis expires lazily and actively every 100 ms; otter on read).
	// Default 500ms.
	ExpiryGrace time.Duration
}

// NewStore opens a fresh store for one test case. Its cleanup (t.Cleanup)
// must close it and delete its keys.
type NewStore func(t *testing.T) cache.Store

// Run runs the contract suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore, f Features) {
	if f.ExpiryGrace == 0 {
		f.ExpiryGrace = 500 * time.Millisecond
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, s cache.Store, f Features)
	}{
		{"GetMissing", testGetMissing},
		{"SetGet", testSetGet},
		{"Overwrite", testOverwrite},
		{"EmptyAndBinaryValues", testEmptyAndBinary},
		{"SetCopiesValue", testSetCopies},
		{"Delete", testDelete},
		{"DeleteMany", testDeleteMany},
		{"TTLExpires", testTTLExpires},
		{"ZeroTTLKeeps", testZeroTTL},
		{"Ping", testPing},
		{"Concurrent", testConcurrent},
		{"CloseThenUse", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t), f)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustGet(t *testing.T, s cache.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func mustMiss(t *testing.T, s cache.Store, key string) {
	t.Helper()
	if got, err := s.Get(ctx(t), key); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get(%q) = %q, %v; want ErrMiss", key, got, err)
	}
}

func mustSet(t *testing.T, s cache.Store, key string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx(t), key, v, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func testGetMissing(t *testing.T, s cache.Store, _ Features) {
	mustMiss(t, s, "missing")
}

func testSetGet(t *testing.T, s cache.Store, _ Features) {
	mustSet(t, s, "user:1:profile", []byte(`{"id":1}`), time.Minute)
	mustGet(t, s, "user:1:profile", []byte(`{"id":1}`))
	mustMiss(t, s, "user:2:profile")
}

func testOverwrite(t *testing.T, s cache.Store, _ Features) {
	mustSet(t, s, "k", []byte("one"), time.Minute)
	mustSet(t, s, "k", []byte("two"), time.Minute)
	mustGet(t, s, "k", []byte("two"))
}

func testEmptyAndBinary(t *testing.T, s cache.Store, _ Features) {
	mustSet(t, s, "empty", []byte{}, time.Minute)
	got, err := s.Get(ctx(t), "empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want empty value, nil", got, err)
	}
	bin := []byte{0, 1, 2, 0xff, '\n', 0}
	mustSet(t, s, "bin", bin, time.Minute)
	mustGet(t, s, "bin", bin)
	big := bytes.Repeat([]byte("x"), 1<<20)
	mustSet(t, s, "big", big, time.Minute)
	mustGet(t, s, "big", big)
}

func testSetCopies(t *testing.T, s cache.Store, _ Features) {
	v := []byte("original")
	mustSet(t, s, "k", v, time.Minute)
	copy(v, "MUTATED!")
	mustGet(t, s, "k", []byte("original"))
}

func testDelete(t *testing.T, s cache.Store, _ Features) {
	mustSet(t, s, "k", []byte("v"), time.Minute)
	if err := s.Delete(ctx(t), "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustMiss(t, s, "k")
	if err := s.Delete(ctx(t), "k"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := s.Delete(ctx(t)); err != nil {
		t.Fatalf("Delete of no keys: %v", err)
	}
}

func testDeleteMany(t *testing.T, s cache.Store, _ Features) {
	// Many keys so that, on a cluster, they land in several slots.
	var keys []string
	for i := range 20 {
		k := fmt.Sprintf("user:%d:profile", i)
		keys = append(keys, k)
		mustSet(t, s, k, []byte("v"), time.Minute)
	}
	mustSet(t, s, "keep", []byte("v"), time.Minute)
	if err := s.Delete(ctx(t), append(keys, "never-set")...); err != nil {
		t.Fatalf("Delete(%d keys): %v", len(keys)+1, err)
	}
	for _, k := range keys {
		mustMiss(t, s, k)
	}
	mustGet(t, s, "keep", []byte("v"))
}

func testTTLExpires(t *testing.T, s cache.Store, f Features) {
	const ttl = 300 * time.Millisecond
	start := time.Now()
	mustSet(t, s, "short", []byte("v"), ttl)
	mustSet(t, s, "long", []byte("v"), time.Minute)
	if got, err := s.Get(ctx(t), "short"); err != nil {
		// Only legitimate if the TTL already passed (a very slow machine).
		if time.Since(start) < ttl {
			t.Fatalf("Get right after Set = %q, %v", got, err)
		}
	}
	deadline := start.Add(ttl + f.ExpiryGrace)
	for {
		_, err := s.Get(ctx(t), "short")
		if errors.Is(err, cache.ErrMiss) {
			break
		}
		if err != nil {
			t.Fatalf("Get(short): %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry with TTL %s still served after %s", ttl, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if el := time.Since(start); el < ttl-50*time.Millisecond {
		t.Fatalf("entry with TTL %s gone after %s", ttl, el)
	}
	mustGet(t, s, "long", []byte("v"))
}

func testZeroTTL(t *testing.T, s cache.Store, _ Features) {
	mustSet(t, s, "forever", []byte("v"), 0)
	mustGet(t, s, "forever", []byte("v"))
}

func testPing(t *testing.T, s cache.Store, _ Features) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testConcurrent(t *testing.T, s cache.Store, _ Features) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Sprintf("c:%d", i%10)
				v := []byte(fmt.Sprintf("w%d-%d", w, i))
				if err := s.Set(ctx(t), k, v, time.Minute); err != nil {
					errs <- err
					return
				}
				got, err := s.Get(ctx(t), k)
				if err != nil && !errors.Is(err, cache.ErrMiss) {
					errs <- err
					return
				}
				if err == nil && !bytes.HasPrefix(got, []byte("w")) {
					errs <- fmt.Errorf("torn value %q", got)
					return
				}
				if i%7 == 0 {
					if err := s.Delete(ctx(t), k); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testClose(t *testing.T, s cache.Store, _ Features) {
	mustSet(t, s, "k", []byte("v"), time.Minute)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(ctx(t), "k"); err == nil || errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get after Close = %v, want an error other than ErrMiss", err)
	}
	if err := s.Set(ctx(t), "k", []byte("v"), time.Minute); err == nil {
		t.Fatal("Set after Close succeeded")
	}
}
