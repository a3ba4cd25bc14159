package cache_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/tipbox/tipbox/core/cache"
)

// replyStore answers every Get with a new copy of the stored bytes, as a
// Redis client does with each reply.
type replyStore struct{ *fakeStore }

func (s replyStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.fakeStore.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, v...), nil
}

// countingCodec is JSON, counting decodes.
type countingCodec struct{ decodes *atomic.Int64 }

func (c countingCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }
func (c countingCodec) Unmarshal(data []byte, v any) error {
	c.decodes.Add(1)
	return json.Unmarshal(data, v)
}

// Over a store whose every Get returns new bytes (Redis), a hit on bytes
// equal to the ones last decoded for the key reuses that decoded value;
// bytes that changed in the store (another writer) are decoded and served.
func TestAsideDecodesUnchangedEntryOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		memoEntries int
		wantDecodes int64 // after the miss and four hits on unchanged bytes
	}{
		{"memo", 0, 1},
		{"memo off", -1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var decodes atomic.Int64
			fs := newFakeStore()
			a, _ := newAside(t, replyStore{fs}, cache.AsideOptions{Codec: countingCodec{&decodes}, MemoEntries: tc.memoEntries})
			var l loader
			l.name.Store("v1")
			if _, st := get(t, a, "user:1", l.load(1)); st != cache.StatusMiss {
				t.Fatalf("first read: %s, want MISS", st)
			}
			for i := range 4 {
				if v, st := get(t, a, "user:1", l.load(1)); st != cache.StatusHit || v.Name != "v1" {
					t.Fatalf("hit %d: %+v %s", i, v, st)
				}
			}
			if n := decodes.Load(); n != tc.wantDecodes {
				t.Fatalf("%d decodes for four hits on unchanged bytes, want %d", n, tc.wantDecodes)
			}

			// Another writer changes the entry in the store.
			fs.put("user:1", []byte(`{"id":1,"name":"v2"}`))
			for i := range 2 {
				if v, st := get(t, a, "user:1", l.load(1)); st != cache.StatusHit || v.Name != "v2" {
					t.Fatalf("read %d after the store changed: %+v %s, want v2 HIT", i, v, st)
				}
			}
			if tc.memoEntries == 0 && decodes.Load() != tc.wantDecodes+1 {
				t.Fatalf("%d decodes, want %d: the changed bytes once", decodes.Load(), tc.wantDecodes+1)
			}
			// A corrupt entry is still a miss, however recently the key was decoded.
			fs.put("user:1", []byte(`{"id":1,`))
			if _, st := get(t, a, "user:1", l.load(1)); st != cache.StatusMiss {
				t.Fatalf("corrupt entry: %s, want MISS", st)
			}
			if l.calls.Load() != 2 {
				t.Fatalf("%d loads, want 2 (the first miss, the corrupt entry)", l.calls.Load())
			}
		})
	}
}
