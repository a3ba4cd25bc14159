package queue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/queue"
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
