package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestStorageBounded drains 100,000 jobs (60 of them dead) and checks that
// what stays in Redis is the retention records plus at most 1 MB: acked
// stream entries are trimmed, counters keep the totals.
func TestStorageBounded(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	qcfg := queuetest.Config()
	qcfg.Concurrency = 50
	qcfg.Retry.MaxAttempts = 1
	b, cfg := openTestBackend(t, c, qcfg)
	e := &queuetest.Env{T: t, Cfg: qcfg, Backend: b, Admin: queue.NewAdmin(qcfg, b)}
	e.Client, _ = queue.NewClient(qcfg, b, queuetest.Logger(), nil)
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		if j.Name == "fail" {
			return queue.Permanent(errors.New("boom"))
		}
		return nil
	}})
	ctx := context.Background()
	payload := map[string]string{"user": "12345", "event": "profile_view", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
	const total, failing = 100000, 60
	for i := 0; i < total; i += 1000 {
		jobs := make([]queue.NewJob, 1000)
		for k := range jobs {
			name := "ok"
			if i+k < failing {
				name = "fail"
			}
			jobs[k] = queue.NewJob{Name: name, Payload: payload}
		}
		if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 120*time.Second, func() bool {
		s := e.Stats("jobs")
		return s.Completed == total-failing && s.Failed == failing && s.Waiting == 0 && s.Active == 0
	}, "not drained: %+v", e.Stats("jobs"))
	k := newKeys(cfg.Prefix, "jobs")
	var total0, retained int64
	testenv.Eventually(t, 10*time.Second, func() bool {
		total0, retained = 0, 0
		iter := c.Scan(ctx, 0, cfg.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n, _ := c.MemoryUsage(ctx, iter.Val(), 0).Result()
			total0 += n
			switch iter.Val() {
			case k.completed, k.failed, k.failedIdx:
				retained += n
			}
		}
		return total0-retained <= 1<<20
	}, "queue keys use %d bytes beyond the %d bytes of retention records", total0-retained, retained)
	if n := c.LLen(ctx, k.completed).Val(); n != int64(qcfg.Retention.Completed) {
		t.Fatalf("completed records kept: %d", n)
	}
	if n := c.HLen(ctx, k.failed).Val(); n != int64(qcfg.Retention.Failed) {
		t.Fatalf("failed records kept: %d", n)
	}
	t.Logf("after %d jobs: %d bytes in the queue's keys, %d of them retention records", total, total0, retained)
}
