package redis

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// With client_cache_entries the store still keeps the Store contract.
func TestContractClientCache(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	cachetest.Run(t, func(t *testing.T) cache.Store {
		return newTestStoreWith(t, conn, Config{Prefix: testenv.Prefix(t), ClientCacheEntries: 1000})
	}, cachetest.Features{})
}

// An entry a store keeps in process is dropped once another client changes
// or deletes the key in Redis.
func TestClientCacheSeesOtherWriters(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	prefix := testenv.Prefix(t)
	local, err := New(Config{Prefix: prefix, ClientCacheEntries: 1000}, conn)
	if err != nil {
		t.Fatal(err)
	}
	other := newTestStoreWithPrefix(t, conn, prefix)
	t.Cleanup(func() { _ = local.Close() })
	ctx := context.Background()
	if err := other.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	reads := func(want string) {
		t.Helper()
		testenv.Eventually(t, 2*time.Second, func() bool {
			v, err := local.Get(ctx, "k")
			return err == nil && bytes.Equal(v, []byte(want))
		}, "local store never read %q", want)
	}
	reads("v1")
	reads("v1") // served locally now
	if err := other.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	reads("v2")
	if err := other.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Second, func() bool {
		_, err := local.Get(ctx, "k")
		return err == cache.ErrMiss
	}, "local store still serves a deleted key")
}

// A store that keeps entries in process reads its own writes: after its Set
// or Delete returns, its Get answers the new value, even while the copy it
// kept was read on another connection than the write's (whose invalidation
// go-redis applies only when it next reads that connection).
func TestClientCacheReadsItsOwnWrites(t *testing.T) {
	t.Parallel()
	s := newTestStoreWith(t, sharedConn(t), Config{Prefix: testenv.Prefix(t), ClientCacheEntries: 1000})
	ctx := context.Background()
	for i := range 50 {
		key := "k" + strconv.Itoa(i)
		if err := s.Set(ctx, key, []byte("v1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		// Read it on several connections at once, so that copies are kept
		// from connections other than the one the next write takes.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if v, err := s.Get(ctx, key); err != nil || string(v) != "v1" {
					t.Errorf("Get %s = %q, %v", key, v, err)
				}
			})
		}
		wg.Wait()
		if err := s.Set(ctx, key, []byte("v2"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, key); err != nil || string(v) != "v2" {
			t.Fatalf("write %d: Get after Set = %q, %v; want v2", i, v, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, key); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("write %d: Get after Delete = %q, %v; want a miss", i, v, err)
		}
	}
}
