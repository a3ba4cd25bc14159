package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestLayoutReadableAndTagged checks what an operator sees with redis-cli:
// stream entries, delayed jobs and dead letters are JSON, and every key of
// a queue carries the hash tag {queue}.
func TestLayoutReadableAndTagged(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	qcfg := queuetest.Config()
	qcfg.Retry.MaxAttempts = 1
	b, cfg := openTestBackend(t, c, qcfg)
	client, _ := queue.NewClient(qcfg, b, queuetest.Logger(), nil)
	ctx := context.Background()
	id, err := client.Enqueue(ctx, "jobs", "welcome", map[string]any{"userId": 7}, queue.WithPriority(queue.PriorityHigh))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(ctx, "jobs", "later", 1, queue.WithDelay(time.Hour), queue.WithJobID("fixed-1")); err != nil {
		t.Fatal(err)
	}
	k := newKeys(cfg.Prefix, "jobs")
	entries := c.XRange(ctx, k.streams[0], "-", "+").Val()
	if len(entries) != 1 {
		t.Fatalf("high stream: %v", entries)
	}
	var job queue.Job
	payload, _ := entries[0].Values["payload"].(string)
	if err := json.Unmarshal([]byte(payload), &job); err != nil || job.ID != id || job.Name != "welcome" ||
		string(job.Payload) != `{"userId":7}` || entries[0].Values["_watermill_message_uuid"] != id {
		t.Fatalf("stream entry %v (%v)", entries[0].Values, err)
	}
	if !strings.Contains(payload, `"priority":"high"`) {
		t.Fatalf("priority not readable: %s", payload)
	}
	delayed := c.ZRange(ctx, k.delayed, 0, -1).Val()
	if len(delayed) != 1 || !json.Valid([]byte(delayed[0])) || !strings.Contains(delayed[0], `"id":"fixed-1"`) {
		t.Fatalf("delayed set %v", delayed)
	}

	e := &queuetest.Env{T: t, Cfg: qcfg, Backend: b, Client: client, Admin: queue.NewAdmin(qcfg, b)}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error { return errors.New("no mailer") }})
	testenv.Eventually(t, 5*time.Second, func() bool { return e.Stats("jobs").Failed == 1 }, "job not dead-lettered")
	rec := c.HGet(ctx, k.failed, id).Val()
	var d queue.DeadLetter
	if err := json.Unmarshal([]byte(rec), &d); err != nil || d.Error != "no mailer" || d.Attempts != 1 || d.Job == nil {
		t.Fatalf("dead letter record %s (%v)", rec, err)
	}
	iter := c.Scan(ctx, 0, cfg.Prefix+"*", 100).Iterator()
	n := 0
	for iter.Next(ctx) {
		n++
		if !strings.HasPrefix(iter.Val(), cfg.Prefix+"{jobs}:") && !strings.HasPrefix(iter.Val(), cfg.Prefix+"{other}:") {
			t.Errorf("key %q lacks its queue's hash tag", iter.Val())
		}
	}
	if n == 0 {
		t.Fatal("no keys found")
	}
}
