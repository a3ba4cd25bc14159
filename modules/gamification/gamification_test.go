package gamification_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/gamification"
	gmig "github.com/tipbox/tipbox/modules/gamification/migrations"
	"github.com/tipbox/tipbox/modules/user"
	umig "github.com/tipbox/tipbox/modules/user/migrations"
)

// fakeQueue records enqueued jobs; it fails while failing is set, and an
// enqueue for the user in stall waits until release is closed.
type fakeQueue struct {
	mu      sync.Mutex
	jobs    map[string]json.RawMessage // by job id: a re-enqueue is one job
	calls   int
	failing atomic.Bool
	stall   atomic.Int64
	stalled chan struct{} // receives when a stalled enqueue starts waiting
	release chan struct{}
}

func (q *fakeQueue) Enqueue(ctx context.Context, name, job string, payload any, opts ...queue.Option) (string, error) {
	_, err := q.EnqueueBulk(ctx, name, []queue.NewJob{{Name: job, Payload: payload, Options: opts}})
	return "x", err
}

// EnqueueBulk records the jobs in one call.
func (q *fakeQueue) EnqueueBulk(_ context.Context, _ string, jobs []queue.NewJob) ([]string, error) {
	if q.failing.Load() {
		return nil, errors.New("queue down")
	}
	// The id is the only option the service must set besides priority;
	// recover it from the payload to key the map.
	evs := make([]gamification.NewBadgeEvent, len(jobs))
	for i, j := range jobs {
		_ = json.Unmarshal(j.Payload.(json.RawMessage), &evs[i])
	}
	if u := q.stall.Load(); u != 0 && slices.ContainsFunc(evs, func(ev gamification.NewBadgeEvent) bool { return ev.UserID == u }) {
		q.stalled <- struct{}{}
		<-q.release
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.jobs == nil {
		q.jobs = map[string]json.RawMessage{}
	}
	ids := make([]string, len(jobs))
	for i, ev := range evs {
		ids[i] = gamification.JobID(ev.UserID, ev.BadgeID)
		q.jobs[ids[i]] = jobs[i].Payload.(json.RawMessage)
	}
	return ids, nil
}

func (q *fakeQueue) count() int { q.mu.Lock(); defer q.mu.Unlock(); return len(q.jobs) }

type invalidations struct {
	mu    sync.Mutex
	ids   []int64
	calls int
}

func (i *invalidations) InvalidateProfiles(_ context.Context, ids ...int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.ids = append(i.ids, ids...)
	i.calls++
}

type rig struct {
	svc   *gamification.Service
	store *gamification.Store
	q     *fakeQueue
	inv   *invalidations
	users user.Store
}

func newRig(t testing.TB, backend string) *rig {
	db := dbtest.Open(t, backend,
		database.Migrations{Module: "user", FS: umig.FS}, database.Migrations{Module: "gamification", FS: gmig.FS})
	r := &rig{store: gamification.NewStore(db), q: &fakeQueue{}, inv: &invalidations{}, users: user.NewSQLStore(db)}
	r.svc = gamification.NewService(r.store, user.NewService(r.users, nil, nil, slog.New(slog.DiscardHandler)), r.inv, r.q, slog.New(slog.DiscardHandler))
	return r
}

func TestGrant(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		u, err := r.users.Create(ctx, user.User{Username: "ayse", Email: "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		badges, err := r.svc.Badges(ctx)
		if err != nil || len(badges) < 5 || badges[0].Name != "First Post" || badges[0].Icon != "🎯" {
			t.Fatalf("catalogue %+v %v", badges, err)
		}
		g, err := r.svc.GrantBadge(ctx, u.ID, badges[0].ID)
		if err != nil || g.BadgeName != "First Post" {
			t.Fatalf("grant %+v %v", g, err)
		}
		if _, err := r.svc.GrantBadge(ctx, u.ID, badges[0].ID); !errors.Is(err, gamification.ErrAlreadyGranted) {
			t.Fatalf("second grant: %v", err)
		}
		if _, err := r.svc.GrantBadge(ctx, u.ID, 9999); !errors.Is(err, gamification.ErrBadgeNotFound) {
			t.Fatalf("unknown badge: %v", err)
		}
		if _, err := r.svc.GrantBadge(ctx, u.ID+100, badges[0].ID); !errors.Is(err, gamification.ErrUserNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		if r.q.count() != 1 || len(r.inv.ids) != 1 || r.inv.ids[0] != u.ID {
			t.Fatalf("jobs %d, invalidations %v", r.q.count(), r.inv.ids)
		}
		var ev gamification.NewBadgeEvent
		_ = json.Unmarshal(r.q.jobs[gamification.JobID(u.ID, badges[0].ID)], &ev)
		if ev.Type != "NEW_BADGE" || ev.UserID != u.ID || ev.BadgeName != "First Post" || ev.BadgeIcon != "🎯" {
			t.Fatalf("event %+v", ev)
		}
		mine, err := r.store.BadgesOf(ctx, u.ID)
		if err != nil || len(mine) != 1 || mine[0].ID != badges[0].ID {
			t.Fatalf("badges of user: %+v %v", mine, err)
		}
	})
}

// A queue outage does not fail grants; the outbox keeps the notifications
// and a later flush sends each exactly once.
func TestOutboxSurvivesAQueueOutage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		u, _ := r.users.Create(ctx, user.User{Username: "mehmet", Email: "m@example.com"})
		r.q.failing.Store(true)
		for _, b := range []int64{1, 2, 3} {
			if _, err := r.svc.GrantBadge(ctx, u.ID, b); err != nil {
				t.Fatalf("grant %d with the queue down: %v", b, err)
			}
		}
		if r.q.count() != 0 {
			t.Fatal("enqueued while failing")
		}
		r.q.failing.Store(false)
		if err := r.svc.FlushOutbox(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.svc.FlushOutbox(ctx); err != nil { // nothing left: no second send
			t.Fatal(err)
		}
		if r.q.count() != 3 || r.q.calls != 3 {
			t.Fatalf("%d jobs in %d calls after the outage, want 3 in 3", r.q.count(), r.q.calls)
		}
		// The relayed notifications carry the whole event, as the ones
		// enqueued by their grant do.
		badges, _ := r.svc.Badges(ctx)
		granted, _ := r.store.BadgesOf(ctx, u.ID)
		for i, b := range granted {
			var ev gamification.NewBadgeEvent
			if err := json.Unmarshal(r.q.jobs[gamification.JobID(u.ID, b.ID)], &ev); err != nil {
				t.Fatalf("payload of badge %d: %v", b.ID, err)
			}
			want := gamification.NewBadgeEvent{Type: "NEW_BADGE", UserID: u.ID, BadgeID: b.ID,
				BadgeName: badges[i].Name, BadgeIcon: badges[i].Icon, GrantedAt: b.GrantedAt}
			if ev != want {
				t.Fatalf("relayed event\n%+v, want\n%+v", ev, want)
			}
		}
	})
}

// Concurrent grants of one badge: exactly one wins.
func TestConcurrentGrantsOfOneBadge(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		u, _ := r.users.Create(ctx, user.User{Username: "zeynep", Email: "z@example.com"})
		var ok, dup atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := r.svc.GrantBadge(ctx, u.ID, 1)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, gamification.ErrAlreadyGranted):
					dup.Add(1)
				default:
					t.Errorf("grant: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || dup.Load() != 7 || r.q.count() != 1 {
			t.Fatalf("ok %d dup %d jobs %d", ok.Load(), dup.Load(), r.q.count())
		}
	})
}

// A grant hands its own notification to the queue: it does not wait for
// another grant's enqueue. (Grants once flushed the whole outbox under one
// lock per process; at 500 grants/s on PostgreSQL every POST queued
// behind that lock and the push p99 reached seconds.)
func TestGrantsDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		r := newRig(t, backend)
		ctx := t.Context()
		slow, _ := r.users.Create(ctx, user.User{Username: "slow", Email: "s@example.com"})
		fast, _ := r.users.Create(ctx, user.User{Username: "fast", Email: "f@example.com"})
		r.q.stalled, r.q.release = make(chan struct{}, 1), make(chan struct{})
		r.q.stall.Store(slow.ID)
		slowDone := make(chan error, 1)
		go func() { _, err := r.svc.GrantBadge(ctx, slow.ID, 1); slowDone <- err }()
		select {
		case <-r.q.stalled:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow grant never reached the queue")
		}
		fastDone := make(chan error, 1)
		go func() { _, err := r.svc.GrantBadge(ctx, fast.ID, 1); fastDone <- err }()
		select {
		case err := <-fastDone:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			close(r.q.release)
			t.Fatal("a grant waited for another grant's enqueue")
		}
		close(r.q.release)
		if err := <-slowDone; err != nil {
			t.Fatal(err)
		}
		if r.q.count() != 2 {
			t.Fatalf("%d jobs, want 2", r.q.count())
		}
		// Each grant removed its own outbox row: nothing is left to relay.
		r.q.mu.Lock()
		calls := r.q.calls
		r.q.mu.Unlock()
		if err := r.svc.FlushOutbox(ctx); err != nil {
			t.Fatal(err)
		}
		r.q.mu.Lock()
		defer r.q.mu.Unlock()
		if r.q.calls != calls {
			t.Fatalf("the outbox still held %d rows", r.q.calls-calls)
		}
	})
}
