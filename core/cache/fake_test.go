package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tipbox/tipbox/core/cache"
)

var errDown = errors.New("fake: connection refused")

// fakeStore is an in-memory Store whose failure can be switched on, and
// which counts the calls that reach it.
type fakeStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	ttls map[string]time.Duration

	down             atomic.Bool
	gets, sets, dels atomic.Int64
	setHook          func(key string) // called before a Set is applied
	pings            atomic.Int64
	pingHook         func() // called at the start of Ping
}

func newFakeStore() *fakeStore {
	return &fakeStore{m: map[string][]byte{}, ttls: map[string]time.Duration{}}
}

func (f *fakeStore) Get(_ context.Context, key string) ([]byte, error) {
	f.gets.Add(1)
	if f.down.Load() {
		return nil, errDown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[key]
	if !ok {
		return nil, cache.ErrMiss
	}
	return v, nil
}

func (f *fakeStore) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	f.sets.Add(1)
	if f.down.Load() {
		return errDown
	}
	if f.setHook != nil {
		f.setHook(key)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[key] = append([]byte{}, value...)
	f.ttls[key] = ttl
	return nil
}

func (f *fakeStore) Delete(_ context.Context, keys ...string) error {
	f.dels.Add(1)
	if f.down.Load() {
		return errDown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		delete(f.m, k)
	}
	return nil
}

func (f *fakeStore) Ping(context.Context) error {
	f.pings.Add(1)
	if f.pingHook != nil {
		f.pingHook()
	}
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *fakeStore) Close() error { return nil }

// raw returns what is stored under key.
func (f *fakeStore) raw(key string) ([]byte, time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[key]
	return v, f.ttls[key], ok
}

// put stores a raw entry, bypassing the counters.
func (f *fakeStore) put(key string, v []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[key] = v
}
