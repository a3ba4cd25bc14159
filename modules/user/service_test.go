package user_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/tipbox/tipbox/modules/user"
)

// countingStore counts Get calls.
type countingStore struct {
	user.Store
	gets atomic.Int32
}

func (c *countingStore) Get(ctx context.Context, id int64) (user.User, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

// Exists asks the store once per user found, and every time for an id
// not found (the user may be created since).
func TestExistsRemembersFoundUsers(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: newBackendStore(t, "sqlite")}
	svc := user.NewService(store, nil, nil, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	u, err := store.Create(ctx, user.User{Username: "elif", Email: "e@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ok, err := svc.Exists(ctx, u.ID); !ok || err != nil {
			t.Fatalf("Exists(%d) = %v, %v", u.ID, ok, err)
		}
	}
	if n := store.gets.Load(); n != 1 {
		t.Fatalf("%d store reads for three checks of one user, want 1", n)
	}
	missing := u.ID + 1
	for range 2 {
		if ok, err := svc.Exists(ctx, missing); ok || err != nil {
			t.Fatalf("Exists(%d) = %v, %v before it was created", missing, ok, err)
		}
	}
	v, err := store.Create(ctx, user.User{Username: "deniz", Email: "d@example.com"})
	if err != nil || v.ID != missing {
		t.Fatalf("created %+v %v, want id %d", v, err, missing)
	}
	if ok, err := svc.Exists(ctx, missing); !ok || err != nil {
		t.Fatalf("Exists(%d) = %v, %v once created", missing, ok, err)
	}
	if n := store.gets.Load(); n != 4 {
		t.Fatalf("%d store reads, want 4 (1 + 2 misses + 1)", n)
	}
}
