package queue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

var errDown = errors.New("store down")

// downStore is a schedule store that fails every call while down is set,
// as a Redis that is not up yet does.
type downStore struct {
	queue.Scheduling
	down atomic.Bool
}

func (d *downStore) Schedules(ctx context.Context, q string) ([]queue.Schedule, error) {
	if d.down.Load() {
		return nil, errDown
	}
	return d.Scheduling.Schedules(ctx, q)
}

func (d *downStore) PutSchedule(ctx context.Context, q string, s queue.Schedule) error {
	if d.down.Load() {
		return errDown
	}
	return d.Scheduling.PutSchedule(ctx, q, s)
}

func newSchedulerStore(t *testing.T) (queue.Config, *downStore) {
	t.Helper()
	cfg := queue.Config{Queues: []string{"q"}}
	cfg.SetDefaults()
	b, err := memory.New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return cfg, &downStore{Scheduling: b}
}

// A process starts while its schedule store is unreachable (Redis not up
// yet): the scheduler starts anyway and stores the declared schedules
// once the store answers.
func TestSchedulerStartsBeforeItsStore(t *testing.T) {
	t.Parallel()
	cfg, store := newSchedulerStore(t)
	store.down.Store(true)
	s := queue.NewScheduler(cfg, store, []queue.Schedule{{ID: "prune", Queue: "q", Name: "prune", Every: queue.Duration(time.Hour)}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Retry = 10 * time.Millisecond
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start with the store down: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	store.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ss, err := store.Schedules(t.Context(), "q")
		if err == nil && len(ss) == 1 && ss[0].ID == "prune" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule not stored after the store came up: %v %v", ss, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A declared schedule that cannot work (unknown queue, bad cron) still
// fails Start: that is the program's mistake, not an outage.
func TestSchedulerRefusesABadSchedule(t *testing.T) {
	t.Parallel()
	cfg, store := newSchedulerStore(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, sc := range []queue.Schedule{
		{ID: "x", Queue: "nope", Name: "x", Every: queue.Duration(time.Hour)},
		{ID: "x", Queue: "q", Name: "x", Cron: "not cron"},
	} {
		s := queue.NewScheduler(cfg, store, []queue.Schedule{sc}, log)
		if err := s.Start(t.Context()); err == nil {
			_ = s.Stop(context.Background())
			t.Errorf("Start accepted %+v", sc)
		}
	}
}

// slowTickStore stalls its first tick's enqueue, as a store answering
// slowly under load does, and records every tick asked for.
type slowTickStore struct {
	queue.Scheduling
	stall time.Duration
	mu    sync.Mutex
	ticks []time.Time
}

func (s *slowTickStore) EnqueueTick(ctx context.Context, q, id string, tick time.Time, nr queue.NewRecord) (bool, error) {
	s.mu.Lock()
	first := len(s.ticks) == 0
	s.ticks = append(s.ticks, tick)
	s.mu.Unlock()
	if first {
		time.Sleep(s.stall)
	}
	return s.Scheduling.EnqueueTick(ctx, q, id, tick, nr)
}

// waitTicks waits for at least n ticks asked for and returns them all.
func (s *slowTickStore) waitTicks(t *testing.T, n int) []time.Time {
	t.Helper()
	var ticks []time.Time
	testenv.Eventually(t, 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		ticks = slices.Clone(s.ticks)
		return len(ticks) >= n
	}, "ticks %v", testenv.Later(func() any { return ticks }))
	return ticks
}

// A process that runs but falls behind (its store answered one tick
// slowly) still makes the ticks that came due meanwhile: skip is for ticks
// due while no process ran, not for a late one.
func TestSchedulerLateProcessMakesEveryTick(t *testing.T) {
	t.Parallel()
	ticks := lateTicks(t, 2500*time.Millisecond, time.Minute)
	for i := 1; i < len(ticks); i++ {
		if d := ticks[i].Sub(ticks[i-1]); d != time.Second {
			t.Fatalf("ticks %s then %s: %s apart (all %v)", ticks[i-1].Format(time.StampMilli), ticks[i].Format(time.StampMilli), d, ticks)
		}
	}
}

// Beyond Grace a late process counts the ticks as missed: the first tick
// after a 3.2 s stall with a 1 s grace is 3 s after the one that stalled.
func TestSchedulerBeyondGraceSkips(t *testing.T) {
	t.Parallel()
	ticks := lateTicks(t, 3200*time.Millisecond, time.Second)
	if d := ticks[1].Sub(ticks[0]); d != 3*time.Second {
		t.Fatalf("first ticks %s apart, want 3s (all %v)", d, ticks)
	}
}

// lateTicks runs an every-second schedule whose first tick's enqueue
// stalls for stall, and returns the ticks asked for over the next 4 s.
func lateTicks(t *testing.T, stall, grace time.Duration) []time.Time {
	t.Helper()
	cfg, down := newSchedulerStore(t)
	store := &slowTickStore{Scheduling: down.Scheduling, stall: stall}
	s := queue.NewScheduler(cfg, store, []queue.Schedule{{ID: "tick", Queue: "q", Name: "tick", Every: queue.Duration(time.Second)}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Grace = grace
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		store.mu.Lock()
		ticks := slices.Clone(store.ticks)
		store.mu.Unlock()
		if len(ticks) > 1 && ticks[len(ticks)-1].Sub(ticks[0]) >= 4*time.Second {
			return ticks
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticks %v after 10 s", ticks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A schedule this process first sees (created through another process, or
// through Admin here) makes no tick from before it was seen, however long
// the process had been running: only the tick due at that moment.
func TestSchedulerNewScheduleMakesNoEarlierTick(t *testing.T) {
	t.Parallel()
	cfg, down := newSchedulerStore(t)
	store := &slowTickStore{Scheduling: down.Scheduling}
	s := queue.NewScheduler(cfg, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	time.Sleep(2500 * time.Millisecond) // the process runs with no schedule: what is tested
	putAt := time.Now()
	if err := store.PutSchedule(t.Context(), "q", queue.Schedule{ID: "tick", Queue: "q", Name: "tick", Every: queue.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	s.Changed()
	ticks := store.waitTicks(t, 2)
	if ticks[0].Before(putAt.Truncate(time.Second)) {
		t.Fatalf("first tick %s, the schedule was put at %s", ticks[0].Format(time.StampMilli), putAt.Format(time.StampMilli))
	}
}

// slowLoadStore stalls the first reading of the schedules, as a store
// answering slowly while a process starts does.
type slowLoadStore struct {
	*slowTickStore
	stall time.Duration
	once  sync.Once
}

func (s *slowLoadStore) Schedules(ctx context.Context, q string) ([]queue.Schedule, error) {
	s.once.Do(func() { time.Sleep(s.stall) })
	return s.slowTickStore.Schedules(ctx, q)
}

// catch_up_once makes one job for the latest tick missed while no process
// ran: the last one before this process started, even when its first
// reading of the schedules comes back after the next tick was due (that
// tick is the running process's own, made anyway).
func TestSchedulerCatchUpIsTheTickBeforeTheStart(t *testing.T) {
	t.Parallel()
	cfg, down := newSchedulerStore(t)
	store := &slowLoadStore{slowTickStore: &slowTickStore{Scheduling: down.Scheduling}, stall: 1200 * time.Millisecond}
	ctx := t.Context()
	sc := queue.Schedule{ID: "c", Queue: "q", Name: "c", Every: queue.Duration(time.Second), Missed: queue.MissedCatchUpOnce}
	if err := down.PutSchedule(ctx, "q", sc); err != nil {
		t.Fatal(err)
	}
	// Start 200 ms into a second, so that the stalled first reading ends
	// after the next second's tick.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1200 * time.Millisecond)))
	// A tick made 5 s ago, as by a process that ran then.
	old := time.Now().Truncate(time.Second).Add(-5 * time.Second)
	j := &queue.Job{ID: sc.TickID(old), Queue: "q", Name: "c", Payload: []byte("null"), State: queue.StateWaiting,
		Attempt: 1, MaxAttempts: 1, EnqueuedAt: old, RunAt: old}
	if _, err := down.EnqueueTick(ctx, "q", "c", old, queue.NewRecord{Job: j, Unique: true}); err != nil {
		t.Fatal(err)
	}
	s := queue.NewScheduler(cfg, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	started := time.Now()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	missed := started.Truncate(time.Second)
	ticks := store.waitTicks(t, 2)
	if !slices.ContainsFunc(ticks, missed.Equal) {
		t.Fatalf("started at %s: ticks %v, none for the missed %s", started.Format(time.StampMilli), ticks, missed.Format(time.StampMilli))
	}
}
