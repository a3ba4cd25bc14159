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
	// Down for 2.5–3.5 s: skip makes nothing for the gap, catch_up_once
	// one job, for the latest tick before the new process began to run
	// schedules. That is a little after StartScheduler is called (a
	// goroutine has to start: under load, tens of milliseconds), so the
	// restart comes 100 ms into a second: the missed tick is the one at
	// that second's start, before up, whatever that delay (under 900 ms).
	down := time.Now()
	time.Sleep(2500 * time.Millisecond)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	up := time.Now()
	stop := e.StartScheduler()
	testenv.Eventually(t, 5*time.Second, func() bool {
		return len(tickTimes(t, &mu, runs, "every-second")) > len(ticks)
	}, "no tick after the restart")
	stop()
	inGap := func() int {
		n := 0
		for _, tk := range tickTimes(t, &mu, runs, "catch-up") {
			if at := time.UnixMilli(tk); at.After(down.Add(time.Second)) && at.Before(up.Add(-time.Millisecond)) {
				n++
			}
		}
		return n
	}
	// The catch-up job runs like any other: wait for it, then check it is
	// the only one.
	testenv.Eventually(t, 5*time.Second, func() bool { return inGap() >= 1 }, "catch_up_once made no job for the gap")
	if inGap := inGap(); inGap != 1 {
		t.Fatalf("catch_up_once made %d jobs for the gap, want 1", inGap)
	}
	// By then a job wrongly made for the gap under skip would have run too.
	for _, tk := range tickTimes(t, &mu, runs, "every-second") {
		if at := time.UnixMilli(tk); at.After(down.Add(time.Second)) && at.Before(up) {
			t.Fatalf("skip: a tick at %s was made for the gap (%s – %s)", at, down, up)
		}
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
