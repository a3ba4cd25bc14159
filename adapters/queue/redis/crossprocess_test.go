package redis

import (
	"context"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// producer opens a backend on the shared Redis for enqueuing and reading
// stats from the test itself.
func producer(t *testing.T) (*queuetest.Env, goredis.UniversalClient, string) {
	addr := testenv.RedisAddr(t)
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	cfg := testConfig(t)
	b, err := New(cfg, helperQueueConfig(), c, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		deleteKeys(t, c, cfg.Prefix)
		_ = c.Close()
	})
	qc := helperQueueConfig()
	client, _ := queue.NewClient(qc, b, queuetest.Logger(), nil)
	return &queuetest.Env{T: t, Cfg: qc, Backend: b, Client: client, Admin: queue.NewAdmin(qc, b)}, c, cfg.Prefix
}

func enqueueN(t *testing.T, e *queuetest.Env, n int) {
	for i := 0; i < n; i += 1000 {
		jobs := make([]queue.NewJob, min(1000, n-i))
		for k := range jobs {
			jobs[k] = queue.NewJob{Name: "job", Payload: i + k}
		}
		if _, err := e.Client.EnqueueBulk(context.Background(), "jobs", jobs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKillDashNine kills a worker process mid-run with SIGKILL; another
// worker takes its pending jobs over and every job id completes.
func TestKillDashNine(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	const total = 10000
	enqueueN(t, e, total)
	addr := testenv.RedisAddr(t)
	a := startWorker(t, addr, prefix, "a", 200*time.Microsecond, time.Second)
	testenv.Eventually(t, 30*time.Second, func() bool { return c.SCard(ctx, prefix+"done").Val() >= 2000 }, "worker a made no progress")
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.wait()
	atKill := c.SCard(ctx, prefix+"done").Val()
	startWorker(t, addr, prefix, "b", 200*time.Microsecond, time.Second)
	testenv.Eventually(t, 60*time.Second, func() bool { return c.SCard(ctx, prefix+"done").Val() == total },
		"jobs done: %d of %d", c.SCard(ctx, prefix+"done").Val(), total)
	runs, _ := c.Get(ctx, prefix+"runs").Int64()
	t.Logf("killed at %d done; all %d ids completed with %d runs (%d re-run after the kill)", atKill, total, runs, runs-total)
}

// TestGracefulRestart stops a worker with SIGTERM mid-run and restarts it:
// the jobs running at SIGTERM finish and are settled before the process
// exits, the restarted worker resumes at once (well before the 10 s stall
// takeover), and every job runs exactly once.
func TestGracefulRestart(t *testing.T) {
	t.Parallel()
	e, c, prefix := producer(t)
	ctx := context.Background()
	const total = 300
	enqueueN(t, e, total)
	addr := testenv.RedisAddr(t)
	a := startWorker(t, addr, prefix, "a", 20*time.Millisecond, 10*time.Second)
	testenv.Eventually(t, 10*time.Second, func() bool { return c.SCard(ctx, prefix+"done").Val() >= 50 }, "no progress")
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exit:
		err := a.err
		if err != nil {
			t.Fatalf("worker exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop on SIGTERM")
	}
	before := c.SCard(ctx, prefix+"done").Val()
	s := e.Stats("jobs")
	if s.Completed != before {
		t.Fatalf("after graceful stop: %d done, stats %+v", before, s)
	}
	// Nothing is left active: what ran was settled, what was claimed and
	// not started was released back to waiting.
	if n := c.ZCard(ctx, newKeys(prefix, "jobs").active).Val(); n != 0 {
		t.Fatalf("%d deliveries still active after a graceful stop", n)
	}
	start := time.Now()
	startWorker(t, addr, prefix, "a", 20*time.Millisecond, 10*time.Second)
	testenv.Eventually(t, time.Second, func() bool { return c.SCard(ctx, prefix+"done").Val() > before }, "restarted worker did not resume within 1s")
	resumed := time.Since(start)
	testenv.Eventually(t, 10*time.Second, func() bool { return c.SCard(ctx, prefix+"done").Val() == total }, "not all jobs done")
	// A graceful stop acks what finished and releases the rest unrun, so a
	// restart runs every job exactly once (a settled entry whose XACK is
	// still on its way must not be delivered again).
	runs, _ := c.Get(ctx, prefix+"runs").Int64()
	if runs != int64(total) {
		t.Fatalf("%d runs for %d jobs: a graceful restart ran jobs twice", runs, total)
	}
	t.Logf("stopped at %d done; restarted worker resumed in %s", before, resumed)
}

// TestRedisRestart kills and restarts Redis (AOF, fsync always) during a
// run: the worker reconnects and every job completes.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always", "--dir", t.TempDir())
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	cfg := testConfig(t)
	qc := helperQueueConfig()
	qc.Retry.MaxAttempts = 20 // handlers fail while Redis is away; they must get through
	b, err := New(cfg, qc, c, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	client, _ := queue.NewClient(qc, b, queuetest.Logger(), nil)
	e := &queuetest.Env{T: t, Cfg: qc, Backend: b, Client: client, Admin: queue.NewAdmin(qc, b)}
	const total = 3000
	enqueueN(t, e, total)
	done := newIDSet()
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		time.Sleep(500 * time.Microsecond) // the job's work
		done.add(j.ID)
		return nil
	}})
	testenv.Eventually(t, 20*time.Second, func() bool { return done.len() >= 500 }, "no progress")
	srv.Kill()
	time.Sleep(300 * time.Millisecond) // Redis stays down a while: an outage, not synchronisation
	srv.Start()
	testenv.Eventually(t, 60*time.Second, func() bool { return done.len() == total }, "jobs done: %d of %d", done.len(), total)
	testenv.Eventually(t, 10*time.Second, func() bool {
		s, err := e.Admin.QueueStats(context.Background(), "jobs")
		return err == nil && s.Waiting == 0 && s.Active == 0 && s.Delayed == 0
	}, "queue not empty after the run")
	t.Logf("all %d jobs completed across a Redis restart (%d runs)", total, done.runs())
}
