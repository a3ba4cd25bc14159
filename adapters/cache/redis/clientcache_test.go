package redis

import (
	"bytes"
	"context"
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
		prefix := testenv.Prefix(t)
		s, err := New(Config{Prefix: prefix, ClientCacheEntries: 1000}, conn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = s.Close()
			deletePrefix(t, conn, prefix)
		})
		return s
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
