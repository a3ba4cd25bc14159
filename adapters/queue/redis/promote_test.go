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

// scriptCalls counts the calls of one script a client sends.
type scriptCalls struct {
	sha string
	n   atomic.Int64
}

func (s *scriptCalls) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (s *scriptCalls) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if a := cmd.Args(); len(a) > 1 && a[1] == s.sha {
			s.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (s *scriptCalls) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// runBackend runs b's background work until the test ends.
func runBackend(t *testing.T, b *Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// promoteFixture is a worker process's backend (running its background
// work, its promote script calls counted) and a producer's backend on
// another connection, over two queues. With a stall check of an hour,
// nothing but the promote timer moves a delayed job.
func promoteFixture(t *testing.T, stallCheck time.Duration) (worker *Backend, producer *queue.Client, calls *scriptCalls) {
	t.Helper()
	addr := testenv.RedisAddr(t)
	cfg := testConfig(t)
	cfg.ClaimInterval = stallCheck
	qc := queuetest.Config()
	qc.Queues = []string{"a", "b"}
	wc := goredis.NewClient(&goredis.Options{Addr: addr, ClientName: cfg.Prefix + "worker"})
	calls = &scriptCalls{sha: promoteScript.Hash()}
	wc.AddHook(calls)
	worker, err := New(cfg, qc, wc, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pc := goredis.NewClient(&goredis.Options{Addr: addr})
	pb, err := New(cfg, qc, pc, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pb.Close()
		_ = worker.Close()
		deleteKeys(t, pc, cfg.Prefix)
		_ = pc.Close()
		_ = wc.Close()
	})
	producer, err = queue.NewClient(qc, pb, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	runBackend(t, worker)
	// The first pass promotes each queue once, and each again when its
	// subscription is confirmed: from then on, notices arrive.
	testenv.Eventually(t, 5*time.Second, func() bool { return calls.n.Load() >= 4 }, "queues not read after subscribing")
	return worker, producer, calls
}

// TestIdlePromoteDoesNotPoll: a worker process with nothing due does not
// run the promote script every promote_interval; it sleeps until the
// earliest due time it knows, and an enqueue from another process that
// brings that time forward tells it so. The delayed job is still promoted
// on time.
func TestIdlePromoteDoesNotPoll(t *testing.T) {
	t.Parallel()
	worker, producer, calls := promoteFixture(t, time.Hour)
	ctx := context.Background()
	delay := 300 * time.Millisecond
	start := calls.n.Load()
	sent := time.Now()
	id, err := producer.Enqueue(ctx, "a", "later", nil, queue.WithDelay(delay))
	if err != nil {
		t.Fatal(err)
	}
	var promoted time.Time
	testenv.Eventually(t, 10*time.Second, func() bool {
		j, err := worker.Job(ctx, "a", id)
		if err == nil && j.State == queue.StateWaiting {
			promoted = time.Now()
			return true
		}
		return false
	}, "delayed job never promoted")
	if early := promoted.Sub(sent); early < delay {
		t.Fatalf("promoted %s after its enqueue, before its delay of %s", early, delay)
	}
	// Generous: the bound is promote_interval once told, and a polling
	// worker would have called the script about 60 times per queue in
	// the delay alone. A loaded machine can make the wait longer, not
	// the number of calls larger.
	n := calls.n.Load() - start
	t.Logf("promoted %s after the enqueue (delay %s); %d promote calls meanwhile",
		promoted.Sub(sent).Round(time.Millisecond), delay, n)
	if n > 6 {
		t.Fatalf("%d promote script calls while one delayed job waited %s (two queues): the worker polls", n, delay)
	}
}

// TestRetryIsPromotedWithoutPolling: a retry the worker's settlement
// schedules is promoted at its due time by the promote timer alone.
func TestRetryIsPromotedWithoutPolling(t *testing.T) {
	t.Parallel()
	worker, producer, calls := promoteFixture(t, time.Hour)
	ctx := context.Background()
	id, err := producer.Enqueue(ctx, "b", "flaky", nil)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []*queue.Job
	testenv.Eventually(t, 5*time.Second, func() bool {
		js, err := worker.Fetch(ctx, queue.FetchRequest{Queue: "b", Consumer: "t", Max: 1})
		jobs = append(jobs, js...)
		return err == nil && len(jobs) == 1
	}, "job not claimed")
	start := calls.n.Load()
	due := time.Now().Add(200 * time.Millisecond)
	if _, err := worker.Fetch(ctx, queue.FetchRequest{Queue: "b", Consumer: "t", Settle: []queue.Settlement{{
		Job: jobs[0], Outcome: queue.Retry, At: due, Error: "try again"}}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		j, err := worker.Job(ctx, "b", id)
		return err == nil && j.State == queue.StateWaiting
	}, "retry never promoted")
	if now := time.Now(); now.Before(due) {
		t.Fatalf("retry promoted %s before its due time", due.Sub(now))
	}
	if n := calls.n.Load() - start; n > 6 {
		t.Fatalf("%d promote script calls while one retry waited 200ms: the worker polls", n)
	}
}

// hideEarlierDue moves the job's due time to now behind the workers'
// backs: like a notice lost on the way, nobody is told.
func hideEarlierDue(t *testing.T, c goredis.UniversalClient, worker *Backend, q, id string) {
	t.Helper()
	err := c.ZAdd(context.Background(), worker.keys[q].delayed, goredis.Z{Score: float64(time.Now().UnixMilli()), Member: id}).Err()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLostNoticeIsCaughtByTheStallCheck: a due time no notice announced
// is promoted at the next stall check.
func TestLostNoticeIsCaughtByTheStallCheck(t *testing.T) {
	t.Parallel()
	worker, producer, _ := promoteFixture(t, 200*time.Millisecond)
	ctx := context.Background()
	id, err := producer.Enqueue(ctx, "a", "later", nil, queue.WithDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	hideEarlierDue(t, worker.client, worker, "a", id)
	testenv.Eventually(t, 10*time.Second, func() bool {
		j, err := worker.Job(ctx, "a", id)
		return err == nil && j.State == queue.StateWaiting
	}, "a job whose notice was lost was never promoted")
}

// TestResubscribeRereadsTheQueues: when the connection of the due channels
// is cut (notices sent meanwhile are lost), the worker reads each queue's
// delayed set again as soon as it has subscribed again.
func TestResubscribeRereadsTheQueues(t *testing.T) {
	t.Parallel()
	worker, producer, _ := promoteFixture(t, time.Hour)
	ctx := context.Background()
	id, err := producer.Enqueue(ctx, "a", "later", nil, queue.WithDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	hideEarlierDue(t, worker.client, worker, "a", id)
	name := worker.cfg.Prefix + "worker"
	killed := 0
	testenv.Eventually(t, 5*time.Second, func() bool {
		list, err := worker.client.ClientList(ctx).Result()
		if err != nil {
			return false
		}
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " cmd=subscribe ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "id="); ok {
					if n, _ := strconv.ParseInt(v, 10, 64); n > 0 && worker.client.ClientKillByFilter(ctx, "ID", v).Err() == nil {
						killed++
					}
				}
			}
		}
		return killed > 0
	}, "no subscribed connection of the worker to cut")
	testenv.Eventually(t, 10*time.Second, func() bool {
		j, err := worker.Job(ctx, "a", id)
		return err == nil && j.State == queue.StateWaiting
	}, "the queue was not read again after its subscription was cut")
}
