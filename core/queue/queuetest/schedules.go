package queuetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// StartScheduler runs a Scheduler over e's backend, as a process would,
// until the test ends or stop is called.
func (e *Env) StartScheduler(declared ...queue.Schedule) (stop func()) {
	e.T.Helper()
	store, ok := e.Backend.(queue.Scheduling)
	if !ok {
		e.T.Fatal("backend stores no schedules")
	}
	s := queue.NewScheduler(e.Cfg, store, declared, Logger())
	s.Refresh = 200 * time.Millisecond
	if err := s.Start(context.Background()); err != nil {
		e.T.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Stop(ctx)
		})
	}
	e.T.Cleanup(stop)
	return stop
}

// tickTimes returns the tick times (Unix ms) of the jobs a schedule made,
// sorted, failing on a tick made twice.
func tickTimes(t *testing.T, mu *sync.Mutex, runs map[string]int, sid string) []int64 {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var ticks []int64
	for id, n := range runs {
		s, ms, ok := strings.Cut(id, "@")
		if !ok || s != sid {
			continue
		}
		if n != 1 {
			t.Fatalf("tick job %s ran %d times", id, n)
		}
		v, _ := strconv.ParseInt(ms, 10, 64)
		ticks = append(ticks, v)
	}
	for i := 1; i < len(ticks); i++ {
		for j := i; j > 0 && ticks[j] < ticks[j-1]; j-- {
			ticks[j], ticks[j-1] = ticks[j-1], ticks[j]
		}
	}
	return ticks
}

// testSchedules: a schedule every second, run by two schedulers (two
// processes) at once, makes exactly one job per tick; with both stopped
// for a while, `skip` makes none for the gap and catch_up_once makes one,
// for the latest missed tick; schedules declared in code are stored at
// start; bad schedules are refused naming the field.
func testSchedules(t *testing.T, h Harness) {
	if testing.Short() {
		t.Skip("runs for seconds of wall time; skipped with -short")
	}
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		return nil
	}})
	every := queue.Schedule{ID: "every-second", Queue: "jobs", Name: "tick", Every: queue.Duration(time.Second),
		Payload: []byte(`{"kind":"tick"}`)}
	catchUp := queue.Schedule{ID: "catch-up", Queue: "jobs", Name: "tick", Cron: "* * * * * *",
		Missed: queue.MissedCatchUpOnce}
	stopA := e.StartScheduler(every)
	stopB := e.StartScheduler(every)
	if err := e.Admin.PutSchedule(ctx, "jobs", catchUp); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond) // the schedules' own time: ticks are wall-clock seconds
	stopA()
	stopB()
	ticks := tickTimes(t, &mu, runs, "every-second")
	if len(ticks) < 3 {
		t.Fatalf("%d ticks in 3.5 s", len(ticks))
	}
	for i := 1; i < len(ticks); i++ {
		if ticks[i]-ticks[i-1] != 1000 {
			t.Fatalf("ticks %v: a gap or a duplicate", ticks)
		}
	}
	view, err := e.Admin.Schedules(ctx, "jobs")
	if err != nil || len(view) != 2 {
		t.Fatalf("schedules %+v %v", view, err)
	}
	for _, v := range view {
		if v.Next.IsZero() || v.Last.IsZero() {
			t.Fatalf("schedule view %+v: no next or last tick", v)
		}
	}
	// Down for 2.5 s: skip makes nothing for the gap, catch_up_once one
	// job, for the latest tick missed. Both schedules tick every second, so
	// the restarted process's own first tick is the same second for both;
	// the catch-up job is the second before it. (That is the last tick
	// before the process began to run schedules, which is some time after
	// StartScheduler returns: under load, late enough to pass a second, so
	// the test compares ticks, not clocks.)
	time.Sleep(2500 * time.Millisecond) // and the jobs made before the stop have run
	everyBefore, catchBefore := tickTimes(t, &mu, runs, "every-second"), tickTimes(t, &mu, runs, "catch-up")
	if len(catchBefore) == 0 {
		t.Fatal("the catch-up schedule made no tick before the stop")
	}
	lastEvery, lastCatch := everyBefore[len(everyBefore)-1], catchBefore[len(catchBefore)-1]
	stop := e.StartScheduler()
	after := func(sid string, last int64) []int64 {
		var out []int64
		for _, tk := range tickTimes(t, &mu, runs, sid) {
			if tk > last {
				out = append(out, tk)
			}
		}
		return out
	}
	var everyAfter, catchAfter []int64
	testenv.Eventually(t, 10*time.Second, func() bool {
		everyAfter, catchAfter = after("every-second", lastEvery), after("catch-up", lastCatch)
		return len(everyAfter) >= 2 && len(catchAfter) >= 3
	}, "ticks after the restart: every-second %v, catch-up %v", testenv.Later(func() any { return everyAfter }), testenv.Later(func() any { return catchAfter }))
	stop()
	first := everyAfter[0]
	// skip: the first tick after the stop is the restarted process's own
	// (the catch-up schedule's second one, checked below), so nothing was
	// made for the gap.
	if first-lastEvery <= 1000 {
		t.Fatalf("every-second ticks %d then %d: the 2.5 s stop left no gap", lastEvery, first)
	}
	if catchAfter[0] != first-1000 || catchAfter[1] != first {
		t.Fatalf("catch_up_once: ticks after the stop %v, want one for the second before the restarted process's first tick %d, then that tick", catchAfter, first)
	}
	// Bad schedules name the field.
	for _, bad := range []queue.Schedule{
		{ID: "x", Name: "n", Cron: "not cron"},
		{ID: "x", Name: "n", Cron: "* * * * *", TimeZone: "Mars/Olympus"},
		{ID: "x", Name: "n"},
		{ID: "bad id!", Name: "n", Every: queue.Duration(time.Minute)},
	} {
		err := e.Admin.PutSchedule(ctx, "jobs", bad)
		if !errors.Is(err, queue.ErrBadSchedule) {
			t.Fatalf("bad schedule %+v: %v", bad, err)
		}
	}
	if err := e.Admin.DeleteSchedule(ctx, "jobs", "catch-up"); err != nil {
		t.Fatal(err)
	}
	if err := e.Admin.DeleteSchedule(ctx, "jobs", "catch-up"); !errors.Is(err, queue.ErrScheduleNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
