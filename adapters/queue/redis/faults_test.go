package redis

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestCrashingHandlerEndsStalled: a job whose handler kills its worker
// process is counted as an attempt on each delivery and, after
// max_stalled+1 deliveries, is dead with the error "stalled"; other jobs
// flow meanwhile.
func TestCrashingHandlerEndsStalled(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	addr := testenv.RedisAddr(t)
	enqueueN(t, e, 200)
	id, err := e.Client.Enqueue(ctx, "jobs", "crash", nil, queue.WithMaxAttempts(5))
	if err != nil {
		t.Fatal(err)
	}
	enqueueN(t, e, 200)
	// Whenever the worker dies, start another, until the job is dead.
	w := startWorker(t, addr, prefix, "", time.Millisecond, 500*time.Millisecond)
	testenv.Eventually(t, 60*time.Second, func() bool {
		if w.exited() {
			w = startWorker(t, addr, prefix, "", time.Millisecond, 500*time.Millisecond)
		}
		j, err := e.Admin.Job(ctx, "jobs", id)
		return err == nil && j.State == queue.StateFailed
	}, "crashing job never dead-lettered")
	j, _ := e.Admin.Job(ctx, "jobs", id)
	want := int64(e.Cfg.MaxStalled + 1)
	if crashes := getInt(c, prefix+"crashes"); crashes != want || j.Error != "stalled" || j.Stalls != int(want) {
		t.Fatalf("deliveries %d (want %d), job %+v", crashes, want, j)
	}
	// The other jobs flow. A crash also cuts short the jobs running beside
	// the crashing one (up to concurrency-1 each time): they count a stall
	// too, and one cut short on both crashes is dead as well.
	testenv.Eventually(t, 30*time.Second, func() bool {
		s := e.Stats("jobs")
		return s.Completed+s.Failed == 401
	}, "other jobs did not flow: %+v", e.Stats("jobs"))
	s := e.Stats("jobs")
	if s.Completed < int64(400-(e.Cfg.Concurrency-1)*int(want)) {
		t.Fatalf("only %d of 400 other jobs completed", s.Completed)
	}
	page, err := e.Admin.Jobs(ctx, "jobs", queue.JobQuery{State: queue.StateFailed, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range page.Jobs {
		if f.Error != "stalled" || f.Stalls != int(want) {
			t.Fatalf("dead job %+v", f)
		}
	}
	t.Logf("%d other jobs completed, %d dead with the crashing one (cut short by both crashes)", s.Completed, s.Failed-1)
}

// TestStuckJobDoesNotHoldTrimming: one job runs for the whole test while
// 2,000 others complete; storage holds only what is waiting, active and
// within retention.
func TestStuckJobDoesNotHoldTrimming(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	qc := queuetest.Config()
	qc.Queues = []string{"jobs"}
	qc.Retention.Completed = 100
	b, cfg := openTestBackend(t, c, qc)
	client, _ := queue.NewClient(qc, b, queuetest.Logger(), nil)
	e := &queuetest.Env{T: t, Cfg: qc, Backend: b, Client: client, Admin: queue.NewAdmin(qc, b)}
	ctx := context.Background()
	release := make(chan struct{})
	var done atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		if j.Name == "stuck" {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		done.Add(1)
		return nil
	}})
	defer close(release)
	if _, err := e.Client.Enqueue(ctx, "jobs", "stuck", nil); err != nil {
		t.Fatal(err)
	}
	enqueueN(t, e, 2000)
	testenv.Eventually(t, 30*time.Second, func() bool { return done.Load() == 2000 }, "jobs not done")
	k := newKeys(cfg.Prefix, "jobs")
	testenv.Eventually(t, 5*time.Second, func() bool { return e.Stats("jobs").Completed == 2000 }, "not all settled")
	waiting := c.LLen(ctx, k.waiting[1]).Val()
	active := c.ZCard(ctx, k.active).Val()
	records := c.HLen(ctx, k.jobs).Val()
	completed := c.LLen(ctx, k.completed).Val()
	events := c.XLen(ctx, k.events).Val()
	t.Logf("with one job stuck: %d waiting, %d active, %d records, %d completed kept, %d events", waiting, active, records, completed, events)
	if waiting != 0 || active != 1 || completed != 100 || records != 101 {
		t.Fatalf("storage not bounded by a stuck job: waiting %d (want 0), active %d (want 1), records %d (want 101), completed %d (want 100)",
			waiting, active, records, completed)
	}
	if events > int64(qc.Events.MaxLen)+200 {
		t.Fatalf("events stream %d, max_len %d", events, qc.Events.MaxLen)
	}
}

// TestSettleFailureRunsHandlerOnce: Redis dies between the end of a
// handler and the settlement; the settlement is retried with backoff
// until Redis is back, and the handler ran exactly once.
func TestSettleFailureRunsHandlerOnce(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always", "--dir", t.TempDir())
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	cfg := testConfig(t)
	cfg.MinIdleTime = 20 * time.Second // no takeover during the outage
	qc := queuetest.Config()
	qc.Queues = []string{"jobs"}
	b, err := New(cfg, qc, c, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := queue.NewClient(qc, b, queuetest.Logger(), nil)
	e := &queuetest.Env{T: t, Cfg: qc, Backend: b, Client: client, Admin: queue.NewAdmin(qc, b)}
	ctx := context.Background()
	var runs atomic.Int64
	enqueued := make(chan struct{})
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error {
		<-enqueued
		if runs.Add(1) == 1 {
			srv.Kill() // the work is done; now the settlement cannot be stored
		}
		return nil
	}})
	id, err := e.Client.Enqueue(ctx, "jobs", "once", nil)
	close(enqueued)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return runs.Load() == 1 }, "handler did not run")
	time.Sleep(500 * time.Millisecond) // Redis stays down a while: an outage, not synchronisation
	srv.Start()
	testenv.Eventually(t, 10*time.Second, func() bool {
		j, err := e.Admin.Job(ctx, "jobs", id)
		return err == nil && j.State == queue.StateCompleted
	}, "settlement never stored")
	j, _ := e.Admin.Job(ctx, "jobs", id)
	if runs.Load() != 1 || j.AttemptsMade() != 1 {
		t.Fatalf("handler ran %d times; job %+v", runs.Load(), j)
	}
	_ = b.Close()
}

// TestKillDashNineAtRandom kills worker processes at random instants while
// 5,000 jobs, a fifth of them failing their first attempt, run: every job
// ends in exactly one terminal state, the dead-letter store holds exactly
// the failed count, and no job runs the same attempt twice (no fork into
// two retry chains).
func TestKillDashNineAtRandom(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	addr := testenv.RedisAddr(t)
	const total = 5000
	var ids []string
	for i := 0; i < total; i += 500 {
		jobs := make([]queue.NewJob, 500)
		for k := range jobs {
			name := "job"
			if (i+k)%5 == 0 {
				name = "flaky"
			}
			jobs[k] = queue.NewJob{Name: name, Payload: i + k}
		}
		got, err := e.Client.EnqueueBulk(ctx, "jobs", jobs)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	r := rand.New(rand.NewPCG(1, 2))
	workers := []*workerProcess{
		startWorker(t, addr, prefix, "", 300*time.Microsecond, 500*time.Millisecond),
		startWorker(t, addr, prefix, "", 300*time.Microsecond, 500*time.Millisecond),
	}
	kills := 0
	terminal := func() int64 {
		s := e.Stats("jobs")
		return s.Completed + s.Failed
	}
	deadline := time.Now().Add(90 * time.Second)
	for terminal() < total && time.Now().Before(deadline) {
		time.Sleep(time.Duration(50+r.IntN(400)) * time.Millisecond) // a random instant
		if kills < 8 {
			i := r.IntN(len(workers))
			_ = workers[i].cmd.Process.Signal(syscall.SIGKILL)
			_ = workers[i].wait()
			workers[i] = startWorker(t, addr, prefix, "", 300*time.Microsecond, 500*time.Millisecond)
			kills++
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return terminal() == total }, "not every job finished: %+v", e.Stats("jobs"))
	k := newKeys(prefix, "jobs")
	s := e.Stats("jobs")
	dead := c.LLen(ctx, k.failed).Val()
	completed := c.LLen(ctx, k.completed).Val()
	if s.Failed != dead || s.Completed != completed || completed+dead != total || s.Waiting+s.Active+s.Delayed != 0 {
		t.Fatalf("stats %+v, dead-letter store %d, completed set %d", s, dead, completed)
	}
	forks := 0
	for _, id := range ids {
		atts := c.LRange(ctx, prefix+"att:"+id, 0, -1).Val()
		seen := map[string]bool{}
		for _, a := range atts {
			if seen[a] {
				forks++
			}
			seen[a] = true
		}
		j, err := e.Admin.Job(ctx, "jobs", id)
		if err != nil || (j.State != queue.StateCompleted && j.State != queue.StateFailed) {
			t.Fatalf("job %s: %+v %v", id, j, err)
		}
	}
	if forks > 0 {
		t.Fatalf("%d attempts ran twice: a job forked into two retry chains", forks)
	}
	t.Logf("%d kills; %d completed, %d dead (stalled past max_stalled), %d runs", kills, completed, dead, getInt(c, prefix+"runs"))
}

// TestTwoWorkersOneHostDefaultNames: two worker processes on one host with
// nothing configured get distinct consumer names, never run a job twice,
// and leave nothing behind once they stop.
func TestTwoWorkersOneHostDefaultNames(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	addr := testenv.RedisAddr(t)
	const total = 2000
	enqueueN(t, e, total)
	a := startWorker(t, addr, prefix, "", 200*time.Microsecond, 10*time.Second)
	b := startWorker(t, addr, prefix, "", 200*time.Microsecond, 10*time.Second)
	if a.consumer == b.consumer {
		t.Fatalf("both workers are %q", a.consumer)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return c.SCard(ctx, prefix+"done").Val() == total }, "jobs not done")
	if runs := getInt(c, prefix+"runs"); runs != total {
		t.Fatalf("%d runs for %d jobs", runs, total)
	}
	for _, w := range []*workerProcess{a, b} {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		if err := w.wait(); err != nil {
			t.Fatalf("worker stop: %v", err)
		}
	}
	// Nothing is left behind by the stopped workers: no lease, no job.
	k := newKeys(prefix, "jobs")
	if n := c.ZCard(ctx, k.active).Val(); n != 0 {
		t.Fatalf("%d leases left after both workers stopped", n)
	}
}

// TestEnqueueHonoursDeadline: with Redis dead, an enqueue with a 50 ms
// deadline returns within 100 ms.
func TestEnqueueHonoursDeadline(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	qc := queuetest.Config()
	qc.Queues = []string{"jobs"}
	b, _ := openTestBackend(t, c, qc)
	client, _ := queue.NewClient(qc, b, queuetest.Logger(), nil)
	srv.Kill()
	for _, bulk := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t0 := time.Now()
		var err error
		if bulk {
			_, err = client.EnqueueBulk(ctx, "jobs", []queue.NewJob{{Name: "a"}, {Name: "b"}})
		} else {
			_, err = client.Enqueue(ctx, "jobs", "a", nil)
		}
		took := time.Since(t0)
		cancel()
		if err == nil || took > 100*time.Millisecond {
			t.Fatalf("bulk=%v: enqueue against a dead Redis took %s (err %v), want an error within 100ms", bulk, took, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("bulk=%v: error %v", bulk, err)
		}
	}
}

// TestCancelActiveOnAnotherProcess: an admin cancel stops the handler's
// context on the worker process that runs the job within 100 ms, and the
// job is cancelled, not retried.
func TestCancelActiveOnAnotherProcess(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	startWorker(t, testenv.RedisAddr(t), prefix, "", 0, 10*time.Second)
	var lat []time.Duration
	for round := 0; round < 5; round++ {
		c.Del(ctx, prefix+"blocked", prefix+"cancelled-at")
		id, err := e.Client.Enqueue(ctx, "jobs", "block", round, queue.WithMaxAttempts(3))
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, func() bool { return c.Exists(ctx, prefix+"blocked").Val() == 1 }, "not blocked")
		t0 := time.Now()
		if err := e.Admin.Act(ctx, "jobs", id, queue.ActCancel); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return c.Exists(ctx, prefix+"cancelled-at").Val() == 1 }, "handler context not cancelled")
		at, _ := strconv.ParseInt(c.Get(ctx, prefix+"cancelled-at").Val(), 10, 64)
		lat = append(lat, time.Unix(0, at).Sub(t0))
		testenv.Eventually(t, 5*time.Second, func() bool {
			j, err := e.Admin.Job(ctx, "jobs", id)
			return err == nil && j.State == queue.StateCancelled
		}, "job not cancelled")
		time.Sleep(300 * time.Millisecond) // a retry would show in this window: nothing may run
		if n := c.LLen(ctx, prefix+"att:"+id).Val(); n != 1 {
			t.Fatalf("cancelled job ran %d times", n)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("cancel → handler context done: %v", lat)
	if lat[len(lat)-1] > 100*time.Millisecond {
		t.Fatalf("cancel took %s to reach the handler", lat[len(lat)-1])
	}
}

// TestDeadLetterRetention: drops by retention.failed and by
// retention.failed_age are counted (and logged), never silent.
func TestDeadLetterRetention(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	qc := queuetest.Config()
	qc.Retention.Failed = 3
	cfg := testConfig(t)
	obs := &queuetest.DropCounter{}
	b, err := New(cfg, qc, c, queuetest.Logger(), obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deleteKeys(t, c, cfg.Prefix)
		_ = c.Close()
	})
	client, _ := queue.NewClient(qc, b, queuetest.Logger(), nil)
	e := &queuetest.Env{T: t, Cfg: qc, Backend: b, Client: client, Admin: queue.NewAdmin(qc, b)}
	queuetest.DeadLetterRetention(t, e, obs, func() {
		if err := b.expireAt(context.Background(), "jobs", time.Now().Add(qc.Retention.FailedAge+time.Minute)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestScheduleAcrossProcesses: five processes run the scheduler of one
// schedule ticking every second; every tick makes exactly one job, with
// no gap; all five killed (-9) and restarted after a pause: the ticks of
// the pause are skipped and ticking resumes, never twice for one tick.
func TestScheduleAcrossProcesses(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	addr := testenv.RedisAddr(t)
	if err := e.Admin.PutSchedule(ctx, "jobs", queue.Schedule{ID: "tick", Name: "tick", Every: queue.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	k := newKeys(prefix, "jobs")
	ticks := func() []int64 {
		ids, err := c.HKeys(ctx, k.jobs).Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, id := range ids {
			if ms, ok := strings.CutPrefix(id, "tick@"); ok {
				v, _ := strconv.ParseInt(ms, 10, 64)
				out = append(out, v)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	start := func() []*workerProcess {
		ps := make([]*workerProcess, 5)
		var wg sync.WaitGroup
		for i := range ps {
			wg.Go(func() { ps[i] = startHelper(t, "scheduler", addr, prefix, "", 0, time.Second) })
		}
		wg.Wait()
		return ps
	}
	ps := start()
	testenv.Eventually(t, 15*time.Second, func() bool { return len(ticks()) >= 4 }, "ticks: %v", ticks())
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.wait()
	}
	before := ticks()
	down := time.Now()
	time.Sleep(2500 * time.Millisecond) // all schedulers down: an outage, not synchronisation
	up := time.Now()
	start()
	testenv.Eventually(t, 15*time.Second, func() bool { return len(ticks()) >= len(before)+3 }, "no ticks after the restart")
	all := ticks()
	for i := 1; i < len(before); i++ {
		if before[i]-before[i-1] != 1000 {
			t.Fatalf("ticks before the kill %v: a gap or a duplicate", before)
		}
	}
	for _, tk := range all {
		at := time.UnixMilli(tk)
		if at.After(down.Add(time.Second)) && at.Before(up) {
			t.Fatalf("a tick at %s was made while every scheduler was down (%s – %s)", at, down, up)
		}
	}
	// Every tick id is one job (the jobs hash is keyed by id) and each was
	// enqueued once: one "waiting" event per tick.
	evs, err := c.XRange(ctx, k.events, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]int{}
	for _, ev := range evs {
		if ev.Values["s"] == "waiting" {
			made[ev.Values["j"].(string)]++
		}
	}
	for id, n := range made {
		if n != 1 {
			t.Fatalf("tick job %s was made %d times", id, n)
		}
	}
	t.Logf("%d ticks before the kill, %d after; none in the %s outage", len(before), len(all)-len(before), up.Sub(down).Round(time.Millisecond))
}
