package gamification

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/testenv"
)

// A commit that fails or panics fails its own batch only: every caller in
// it gets the error, and the next grants are committed as usual.
func TestFailedBatchFailsOnlyItself(t *testing.T) {
	t.Parallel()
	errDown := errors.New("database down")
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	b := &grantBatcher{maxBatch: 128}
	b.commit = func(_ context.Context, gs []Grant) ([]grantResult, error) {
		out := make([]grantResult, len(gs))
		for i, g := range gs {
			switch g.UserID {
			case 1: // holds the batcher busy while the others queue
				started <- struct{}{}
				<-release
			case 2:
				return nil, errDown
			case 3:
				panic("driver bug")
			}
			out[i] = grantResult{grant: g}
		}
		return out, nil
	}
	ctx := t.Context()
	first := make(chan error, 1)
	go func() { _, _, err := b.grant(ctx, Grant{UserID: 1, BadgeID: 1}); first <- err }()
	<-started

	// Users 2 and 4 wait together: their batch fails as one.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for _, u := range []int64{2, 4} {
		wg.Go(func() { _, _, errs[u] = b.grant(ctx, Grant{UserID: u, BadgeID: 1}) })
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.waiting) == 2
	}, "two grants waiting for a batch")
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("holding grant: %v", err)
	}
	if !errors.Is(errs[2], errDown) || !errors.Is(errs[4], errDown) {
		t.Fatalf("batch with a failed commit: %v, %v", errs[2], errs[4])
	}

	// A panicking commit is the batch's error, not a stuck batcher.
	if _, _, err := b.grant(ctx, Grant{UserID: 3, BadgeID: 1}); err == nil || !strings.Contains(err.Error(), "driver bug") {
		t.Fatalf("panicking commit: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := b.grant(ctx, Grant{UserID: 5, BadgeID: 1}); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("grant after the failed batches: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a grant after a failed batch never committed: the batcher stayed busy")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy || len(b.waiting) != 0 {
		t.Fatalf("busy %v, %d waiting after all grants returned", b.busy, len(b.waiting))
	}
}

// Work after a commit that panics is logged: the batch's callers get
// their grants (they are committed), and the next batch runs as usual.
// Only a batch with a grant made runs it.
func TestPanicAfterACommitFailsNoGrant(t *testing.T) {
	t.Parallel()
	var logged testenv.Buffer
	var mu sync.Mutex
	var after [][]int64 // the users of each batch given to afterCommit
	b := &grantBatcher{maxBatch: 128, log: slog.New(slog.NewTextHandler(&logged, nil))}
	b.commit = func(_ context.Context, gs []Grant) ([]grantResult, error) {
		out := make([]grantResult, len(gs))
		for i, g := range gs {
			out[i] = grantResult{grant: g}
			if g.BadgeID == 0 {
				out[i].err = ErrBadgeNotFound
			}
		}
		return out, nil
	}
	b.afterCommit = func(_ context.Context, res []grantResult) {
		mu.Lock()
		users := []int64{}
		for _, r := range res {
			users = append(users, r.grant.UserID)
		}
		after = append(after, users)
		mu.Unlock()
		if res[0].grant.UserID == 1 {
			panic("queue client bug")
		}
	}
	ctx := t.Context()
	if g, _, err := b.grant(ctx, Grant{UserID: 1, BadgeID: 1}); err != nil || g.UserID != 1 {
		t.Fatalf("grant whose after-commit work panicked = %+v, %v; want the grant", g, err)
	}
	if !strings.Contains(logged.String(), "queue client bug") {
		t.Fatalf("the panic was not logged: %q", logged.String())
	}
	if _, _, err := b.grant(ctx, Grant{UserID: 2, BadgeID: 0}); !errors.Is(err, ErrBadgeNotFound) {
		t.Fatalf("grant of an unknown badge: %v", err)
	}
	if _, _, err := b.grant(ctx, Grant{UserID: 3, BadgeID: 1}); err != nil {
		t.Fatalf("grant after the panic: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(after) != 2 || after[0][0] != 1 || after[1][0] != 3 {
		t.Fatalf("afterCommit ran for the batches of users %v, want [[1] [3]] (not for the failed grant)", after)
	}
}
