package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/queue/redisstream"
	"github.com/tipbox/tipbox/core/queue"
)

// Stats reads the counts in one pipeline. Waiting is the group's lag
// (entries not yet delivered), active its pending entries (delivered,
// including read-ahead, not yet acked).
func (b *Backend) Stats(ctx context.Context, q string) (queue.Stats, error) {
	k, err := b.k(q)
	if err != nil {
		return queue.Stats{}, err
	}
	var groups [3]*goredis.XInfoGroupsCmd
	var lens [3]*goredis.IntCmd
	p := b.client.Pipeline()
	for i, s := range k.streams {
		groups[i] = p.XInfoGroups(ctx, s)
		lens[i] = p.XLen(ctx, s)
	}
	delayed := p.ZCard(ctx, k.delayed)
	counts := p.HMGet(ctx, k.stats, "completed", "failed")
	paused := p.Exists(ctx, k.paused)
	b.rec.flushMu.Lock()
	_, _ = p.Exec(ctx) // XINFO fails for a stream not created yet; checked per command
	unflushed := b.rec.unflushed(q)
	b.rec.flushMu.Unlock()
	st := queue.Stats{Name: q}
	for i := range k.streams {
		n, err := lens[i].Result()
		if err != nil {
			return st, err
		}
		waiting, active := n, int64(0)
		if gs, err := groups[i].Result(); err == nil {
			for _, g := range gs {
				if g.Name != b.cfg.Group {
					continue
				}
				active = g.Pending
				if g.Lag >= 0 {
					waiting = g.Lag
				} else {
					waiting = max(n-g.Pending, 0)
				}
			}
		} else if !strings.Contains(err.Error(), "no such key") {
			return st, err
		}
		st.Waiting += waiting
		st.Active += active
	}
	var err2 error
	if st.Delayed, err2 = delayed.Result(); err2 != nil {
		return st, err2
	}
	vals, err := counts.Result()
	if err != nil {
		return st, err
	}
	st.Completed, st.Failed = toInt(vals[0]), toInt(vals[1])
	st.Completed += unflushed
	st.Paused = paused.Val() == 1
	return st, nil
}

func toInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Failed lists dead letters newest first.
func (b *Backend) Failed(ctx context.Context, q string, limit int) ([]queue.FailedJob, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	ids, err := b.client.ZRevRange(ctx, k.failedIdx, 0, int64(limit-1)).Result()
	if err != nil || len(ids) == 0 {
		return []queue.FailedJob{}, err
	}
	vals, err := b.client.HMGet(ctx, k.failed, ids...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]queue.FailedJob, 0, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // trimmed meanwhile
		}
		var d queue.DeadLetter
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return nil, fmt.Errorf("queue.redis: dead letter record: %w", err)
		}
		out = append(out, d.FailedJob())
	}
	return out, nil
}

// RetryFailed moves a dead letter back to its stream at attempt 1.
func (b *Backend) RetryFailed(ctx context.Context, q, id string) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	s, err := b.client.HGet(ctx, k.failed, id).Result()
	if errors.Is(err, goredis.Nil) {
		return fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	if err != nil {
		return err
	}
	var d queue.DeadLetter
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return fmt.Errorf("queue.redis: dead letter record: %w", err)
	}
	job, body, err := d.Revive(time.Now())
	if err != nil {
		return err
	}
	n, err := revive.Run(ctx, b.client, []string{k.failed, k.failedIdx, k.streams[prioIndex(job.Priority)]},
		append([]any{id}, redisstream.Entry{UUID: job.ID, Payload: body}.Values()...)...).Int()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	return nil
}

// SetPaused sets or clears the queue's paused flag.
func (b *Backend) SetPaused(ctx context.Context, q string, paused bool) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	if paused {
		return b.client.Set(ctx, k.paused, "1", 0).Err()
	}
	return b.client.Del(ctx, k.paused).Err()
}

// Paused reads the flag.
func (b *Backend) Paused(ctx context.Context, q string) (bool, error) {
	k, err := b.k(q)
	if err != nil {
		return false, err
	}
	n, err := b.client.Exists(ctx, k.paused).Result()
	return n == 1, err
}
