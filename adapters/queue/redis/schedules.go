package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
)

// Schedules live in {q}:schedules (HASH id → the schedule as JSON) and
// {q}:schedules:last (HASH id → the latest tick made, Unix ms), which the
// tick script updates in the same step as it makes the tick's job.

var _ queue.Scheduling = (*Backend)(nil)

// Schedules lists a queue's schedules with Last and Created.
func (b *Backend) Schedules(ctx context.Context, q string) ([]queue.Schedule, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	p := b.client.Pipeline()
	defs := p.HGetAll(ctx, k.base+"schedules")
	lasts := p.HGetAll(ctx, k.base+"schedules:last")
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	out := make([]queue.Schedule, 0, len(defs.Val()))
	for id, def := range defs.Val() {
		var sc queue.Schedule
		if err := json.Unmarshal([]byte(def), &sc); err != nil {
			b.logger.Warn("queue schedule: stored definition unreadable; ignored", "queue", q, "schedule", id, "error", err)
			continue
		}
		sc.ID, sc.Queue = id, q
		if ms, err := strconv.ParseInt(lasts.Val()[id], 10, 64); err == nil {
			sc.Last = time.UnixMilli(ms).UTC()
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PutSchedule stores a schedule, keeping its Created.
func (b *Backend) PutSchedule(ctx context.Context, q string, sc queue.Schedule) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	sc.Queue, sc.Last = q, time.Time{}
	old, err := b.client.HGet(ctx, k.base+"schedules", sc.ID).Result()
	var prev queue.Schedule
	switch {
	case err == nil && json.Unmarshal([]byte(old), &prev) == nil && !prev.Created.IsZero():
		sc.Created = prev.Created
	case err == nil || errors.Is(err, goredis.Nil):
		sc.Created = b.now().UTC().Truncate(time.Millisecond)
	default:
		return err
	}
	def, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	return b.client.HSet(ctx, k.base+"schedules", sc.ID, def).Err()
}

// DeleteSchedule removes a schedule.
func (b *Backend) DeleteSchedule(ctx context.Context, q, id string) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	n, err := b.client.HDel(ctx, k.base+"schedules", id).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s in %s", queue.ErrScheduleNotFound, id, q)
	}
	return b.client.HDel(ctx, k.base+"schedules:last", id).Err()
}

// EnqueueTick makes the tick's job once and records the tick, in one
// script call.
func (b *Backend) EnqueueTick(ctx context.Context, q, id string, tick time.Time, nr queue.NewRecord) (bool, error) {
	k, err := b.k(q)
	if err != nil {
		return false, err
	}
	head, tail := encodeSplit(nr.Job)
	name := jsonString(nr.Job.Name)
	n, err := tickScript.Run(ctx, b.client, k.all, k.base, msArg(b.now()), b.qcfg.Events.MaxLen,
		b.cfg.DedupWindow.Milliseconds(), id, tick.UnixMilli(), nr.Job.ID, 0, 1, name[1:len(name)-1], head, tail).Int()
	return n == 1, err
}
