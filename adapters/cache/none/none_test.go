package none_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tipbox/tipbox/adapters/cache/none"
	"github.com/tipbox/tipbox/core/cache"
)

func TestNoneNeverCaches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := none.Store{}
	if err := s.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get after Set: %v, want ErrMiss", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
