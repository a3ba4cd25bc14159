package redis

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// roundTrips counts a client's round trips: one per command sent alone,
// one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (r *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestSchedulerRoundTrips: three processes' schedulers (each its own
// client and backend) over a dedicated redis-server, one schedule every
// second. Between two re-reads of the schedules, each scheduler makes
// one round trip per tick: the tick script (one EVALSHA, counted by the
// server too), whether its process made the tick's job or another did.
func TestSchedulerRoundTrips(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	qc := queuetest.Config()
	qc.Queues = []string{"jobs"}
	cfg := Config{Prefix: "rt:", MinIdleTime: time.Second}
	cfg.SetDefaults()
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	b0, err := New(cfg, qc, admin, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b0.PutSchedule(ctx, "jobs", queue.Schedule{ID: "tick", Name: "tick", Every: queue.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	const procs = 3
	counts := make([]*roundTrips, procs)
	for i := range procs {
		c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		counts[i] = &roundTrips{}
		c.AddHook(counts[i])
		b, err := New(cfg, qc, c, queuetest.Logger(), nil)
		if err != nil {
			t.Fatal(err)
		}
		s := queue.NewScheduler(qc, b, nil, queuetest.Logger())
		s.Refresh = time.Hour // the window below holds ticks only
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = s.Stop(stopCtx)
		})
	}
	k := newKeys(cfg.Prefix, "jobs")
	ticks := func() int {
		ids, err := admin.HKeys(ctx, k.jobs).Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, id := range ids {
			if strings.HasPrefix(id, "tick@") {
				n++
			}
		}
		return n
	}
	// Start the window just after a tick was made everywhere: halfway
	// between two ticks.
	testenv.Eventually(t, 5*time.Second, func() bool { return ticks() >= 1 }, "no first tick")
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1500 * time.Millisecond))) // align to mid-second
	before := make([]int64, procs)
	for i, c := range counts {
		before[i] = c.n.Load()
	}
	evalBefore := evalCalls(t, admin)
	t0 := ticks()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(5500 * time.Millisecond))) // five ticks
	made := ticks() - t0
	evals := evalCalls(t, admin) - evalBefore
	if made < 4 {
		t.Fatalf("%d ticks in five seconds", made)
	}
	for i, c := range counts {
		rt := c.n.Load() - before[i]
		t.Logf("process %d: %d round trips for %d ticks", i, rt, made)
		if rt > int64(made) {
			t.Fatalf("process %d made %d round trips for %d ticks (want at most one per tick)", i, rt, made)
		}
	}
	t.Logf("server: %d EVALSHA calls for %d ticks × %d processes", evals, made, procs)
	if evals > int64(made*procs) {
		t.Fatalf("server counted %d EVALSHA calls for %d ticks × %d processes", evals, made, procs)
	}
}

// evalCalls is the server's count of EVALSHA calls (INFO commandstats).
func evalCalls(t *testing.T, c *goredis.Client) int64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:calls="); ok {
			n, _, _ := strings.Cut(rest, ",")
			v, _ := strconv.ParseInt(n, 10, 64)
			return v
		}
	}
	return 0
}
