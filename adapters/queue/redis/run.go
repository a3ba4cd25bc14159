package redis

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/queue/redisstream"
	"github.com/tipbox/tipbox/core/queue"
)

const promoteBatch = 500

// Run promotes due delayed jobs every PromoteInterval and trims acked
// stream entries every TrimInterval, until ctx ends. Every worker process
// runs it; the promote script makes concurrent runs safe. Redis errors are
// logged and retried on the next tick.
func (b *Backend) Run(ctx context.Context) error {
	promoteT := time.NewTicker(b.cfg.PromoteInterval)
	defer promoteT.Stop()
	trimT := time.NewTicker(b.cfg.TrimInterval)
	defer trimT.Stop()
	var lastErr string
	report := func(what string, err error) {
		if err != nil && err.Error() != lastErr && ctx.Err() == nil {
			b.logger.Error("queue background "+what+" failed", "error", err)
		}
		if err != nil {
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-promoteT.C:
			for q := range b.keys {
				report("promote", b.promoteDue(ctx, q))
			}
		case <-trimT.C:
			for _, k := range b.keys {
				for _, s := range k.streams {
					_, err := redisstream.TrimAcked(ctx, b.client, s)
					report("trim", err)
				}
			}
		}
	}
}

// promoteDue moves the queue's due delayed jobs to their streams.
func (b *Backend) promoteDue(ctx context.Context, q string) error {
	k := b.keys[q]
	for {
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		members, err := b.client.ZRangeByScore(ctx, k.delayed, &goredis.ZRangeBy{Min: "-inf", Max: now, Count: promoteBatch}).Result()
		if err != nil || len(members) == 0 {
			return err
		}
		args := make([]any, 0, len(members)*9)
		for _, m := range members {
			var job queue.Job
			idx := prioIndex(queue.PriorityNormal)
			id := "undecodable"
			if json.Unmarshal([]byte(m), &job) == nil {
				idx, id = prioIndex(job.Priority), job.ID
			}
			// The stream entry carries the body unchanged: a member that is
			// not a job still flows to the worker, which dead-letters it.
			fl := redisstream.Entry{UUID: id, Payload: []byte(m)}.Values()
			args = append(args, m, idx+1, len(fl))
			args = append(args, fl...)
		}
		if err := promote.Run(ctx, b.client, []string{k.delayed, k.streams[0], k.streams[1], k.streams[2]}, args...).Err(); err != nil {
			return err
		}
		if len(members) < promoteBatch {
			return nil
		}
	}
}
