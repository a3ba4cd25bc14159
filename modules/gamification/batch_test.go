package gamification_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/internal/testenv"
	"github.com/tipbox/tipbox/modules/gamification"
	"github.com/tipbox/tipbox/modules/user"
)

// holder keeps the batch of one blocking user from committing until
// released, so that the grants started meanwhile wait for the next batch.
type holder struct {
	blocker int64
	started chan struct{}
	release chan struct{}
	done    chan error // the blocked grant's outcome
}

func newHolder(r *rig, blocker int64) *holder {
	h := &holder{blocker: blocker, started: make(chan struct{}, 1), release: make(chan struct{}), done: make(chan error, 1)}
	r.svc.HoldBatches(func(gs []gamification.Grant) {
		if slices.ContainsFunc(gs, func(g gamification.Grant) bool { return g.UserID == h.blocker }) {
			h.started <- struct{}{}
			<-h.release
		}
	})
	return h
}

// block starts the blocker's grant and waits until its batch is running.
func (h *holder) block(t *testing.T, r *rig, ctx context.Context) {
	t.Helper()
	go func() { _, err := r.svc.GrantBadge(ctx, h.blocker, 1); h.done <- err }()
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked grant never reached its commit")
	}
}

// unblock lets the blocked grant commit and checks that it did.
func (h *holder) unblock(t *testing.T) {
	t.Helper()
	close(h.release)
	if err := <-h.done; err != nil {
		t.Fatalf("blocked grant: %v", err)
	}
}

// waitForWaiting waits until n grants wait for a batch.
func waitForWaiting(t *testing.T, r *rig, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, waiting := r.svc.BatchState()
		return waiting == n
	}, "%d grants waiting for a batch", n)
}

var userSeq atomic.Int64

func createUsers(t *testing.T, r *rig, ctx context.Context, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		k := userSeq.Add(1)
		u, err := r.users.Create(ctx, user.User{Username: fmt.Sprintf("b%d", k), Email: fmt.Sprintf("b%d@example.com", k)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = u.ID
	}
	return ids
}

// Grants that arrive while a batch is committing are committed
// together, in one statement or transaction; each still gets its own
// outcome: an unknown badge or a grant made before fails only itself, and
// a second grant of one pair waits for the first's commit.
func TestConcurrentGrantsShareACommit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		ids := createUsers(t, r, ctx, 21)
		blocker, users := ids[0], ids[1:]
		if _, err := r.svc.GrantBadge(ctx, users[2], 2); err != nil { // granted before
			t.Fatal(err)
		}
		h := newHolder(r, blocker)
		before, _ := r.svc.BatchState()
		h.block(t, r, ctx)

		type call struct {
			user, badge int64
			err         error
		}
		calls := []*call{}
		for _, u := range users {
			calls = append(calls, &call{user: u, badge: 1})
		}
		calls = append(calls, &call{user: users[0], badge: 9999}, &call{user: users[1], badge: 1},
			&call{user: users[2], badge: 2})
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Go(func() { _, c.err = r.svc.GrantBadge(ctx, c.user, c.badge) })
		}
		waitForWaiting(t, r, len(calls))
		h.unblock(t)
		wg.Wait()

		after, waiting := r.svc.BatchState()
		// The blocker's batch, one for the 22 distinct pairs, one for the
		// second grant of (users[1], 1).
		if n := after - before; n != 3 || waiting != 0 {
			t.Fatalf("%d batches (want 3), %d grants still waiting", n, waiting)
		}
		won := 0
		for i, c := range calls {
			switch {
			case c.badge == 9999:
				if !errors.Is(c.err, gamification.ErrBadgeNotFound) {
					t.Fatalf("unknown badge in the batch: %v", c.err)
				}
			case c.user == users[2] && c.badge == 2:
				if !errors.Is(c.err, gamification.ErrAlreadyGranted) {
					t.Fatalf("grant made before: %v", c.err)
				}
			case c.user == users[1]:
				// Two grants of one pair: exactly one wins.
				if c.err == nil {
					won++
				} else if !errors.Is(c.err, gamification.ErrAlreadyGranted) {
					t.Fatalf("grant %d of a repeated pair: %v", i, c.err)
				}
			case c.err != nil:
				t.Fatalf("grant %d (user %d): %v", i, c.user, c.err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of the two grants of one pair won", won)
		}
		// Every grant made enqueued its own, complete notification.
		badges, _ := r.svc.Badges(ctx)
		for _, u := range users {
			var ev gamification.NewBadgeEvent
			r.q.mu.Lock()
			raw := r.q.jobs[gamification.JobID(u, 1)]
			r.q.mu.Unlock()
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("notification of user %d: %v", u, err)
			}
			mine, err := r.store.BadgesOf(ctx, u)
			if err != nil || !slices.ContainsFunc(mine, func(b user.Badge) bool { return b.ID == 1 }) {
				t.Fatalf("badges of user %d: %+v %v", u, mine, err)
			}
			if ev.Type != gamification.NewBadgeJob || ev.UserID != u || ev.BadgeID != 1 ||
				ev.BadgeName != badges[0].Name || ev.BadgeIcon != badges[0].Icon || ev.GrantedAt.IsZero() {
				t.Fatalf("notification of user %d: %+v", u, ev)
			}
		}
		if want := len(users) + 2; r.q.count() != want { // and the blocker's
			t.Fatalf("%d notifications, want %d", r.q.count(), want)
		}
	})
}

// A grant whose caller gives up while it waits for a batch leaves the
// queue: it is not granted and not notified.
func TestWaitingGrantLeavesWhenItsCallerGivesUp(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		ids := createUsers(t, r, ctx, 2)
		h := newHolder(r, ids[0])
		h.block(t, r, ctx)
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { _, err := r.svc.GrantBadge(gctx, ids[1], 1); done <- err }()
		waitForWaiting(t, r, 1)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("given-up grant: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a given-up grant still waited for a batch")
		}
		h.unblock(t)
		if mine, err := r.store.BadgesOf(ctx, ids[1]); err != nil || len(mine) != 0 {
			t.Fatalf("badges of the given-up grant's user: %+v %v", mine, err)
		}
		r.q.mu.Lock()
		_, notified := r.q.jobs[gamification.JobID(ids[1], 1)]
		r.q.mu.Unlock()
		if notified {
			t.Fatal("the given-up grant was notified")
		}
	})
}

// Two batches with the same pairs in opposite orders, committed at once
// (as two API processes do),
// never deadlock: each pair is granted once, the other batch's grant of it
// gets ErrAlreadyGranted.
func TestOverlappingBatchesDoNotDeadlock(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		for round := range 20 {
			ids := createUsers(t, r, ctx, 10)
			var gs []gamification.Grant
			for _, u := range ids {
				gs = append(gs, gamification.Grant{UserID: u, BadgeID: int64(round%5 + 1), GrantedAt: time.Now().UTC().Truncate(time.Microsecond)})
			}
			rev := slices.Clone(gs)
			slices.Reverse(rev)
			var errs [2][]error
			var batchErr [2]error
			var wg sync.WaitGroup
			for i, batch := range [][]gamification.Grant{gs, rev} {
				wg.Go(func() { errs[i], batchErr[i] = r.store.GrantMany(ctx, batch) })
			}
			wg.Wait()
			if batchErr[0] != nil || batchErr[1] != nil {
				t.Fatalf("round %d: batches failed: %v, %v", round, batchErr[0], batchErr[1])
			}
			for i := range gs {
				a, b := errs[0][i], errs[1][len(gs)-1-i]
				if (a == nil) == (b == nil) || !errors.Is(errors.Join(a, b), gamification.ErrAlreadyGranted) {
					t.Fatalf("round %d, user %d: outcomes %v and %v, want one grant and one ErrAlreadyGranted", round, gs[i].UserID, a, b)
				}
			}
		}
	})
}

// The grants of one batch drop their users' cached profiles in one call
// and hand their notifications to the queue in one call, where each grant
// made a round trip of each (under load, most of the API's work around
// the commit, docs/benchmarks.md).
func TestBatchSharesItsInvalidationAndEnqueue(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		ids := createUsers(t, r, ctx, 11)
		blocker, users := ids[0], ids[1:]
		h := newHolder(r, blocker)
		h.block(t, r, ctx)
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Go(func() {
				if _, err := r.svc.GrantBadge(ctx, u, 1); err != nil {
					t.Errorf("grant to user %d: %v", u, err)
				}
			})
		}
		waitForWaiting(t, r, len(users))
		h.unblock(t)
		wg.Wait()

		r.inv.mu.Lock()
		inv, invCalls := slices.Sorted(slices.Values(r.inv.ids)), r.inv.calls
		r.inv.mu.Unlock()
		if !slices.Equal(inv, ids) || invCalls != 2 {
			t.Fatalf("invalidated %v in %d calls, want %v in 2 (the blocker's batch, then the rest)", inv, invCalls, ids)
		}
		r.q.mu.Lock()
		defer r.q.mu.Unlock()
		if len(r.q.jobs) != len(ids) || r.q.calls != 2 {
			t.Fatalf("%d notifications in %d queue calls, want %d in 2", len(r.q.jobs), r.q.calls, len(ids))
		}
		for _, u := range ids {
			if _, ok := r.q.jobs[gamification.JobID(u, 1)]; !ok {
				t.Fatalf("no notification for user %d", u)
			}
		}
	})
}
