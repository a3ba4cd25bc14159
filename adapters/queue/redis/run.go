package redis

import (
	"context"
	"strconv"
	"time"
)

const promoteBatch = 500

// Run does a worker process's share of the background work until ctx
// ends: promoting due delayed jobs (every promote_interval), taking back
// stalled deliveries (every claim_interval), and every minute dropping
// dead letters past retention.failed_age and per-minute counts past a
// day. Every worker
// process runs it; the scripts make concurrent runs safe. Redis errors are
// logged once and retried on the next tick.
func (b *Backend) Run(ctx context.Context) error {
	promoteT := time.NewTicker(b.cfg.PromoteInterval)
	defer promoteT.Stop()
	claimT := time.NewTicker(b.cfg.ClaimInterval)
	defer claimT.Stop()
	minuteT := time.NewTicker(time.Minute)
	defer minuteT.Stop()
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
	b.housekeeping(ctx, report)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-promoteT.C:
			for q := range b.keys {
				report("promote", b.promoteDue(ctx, q))
			}
		case <-claimT.C:
			for q := range b.keys {
				report("stall check", b.reclaim(ctx, q))
			}
		case <-minuteT.C:
			b.housekeeping(ctx, report)
		}
	}
}

func (b *Backend) housekeeping(ctx context.Context, report func(string, error)) {
	for q := range b.keys {
		report("dead-letter expiry", b.expire(ctx, q))
		report("minute pruning", b.pruneMinutes(ctx, q))
	}
}

// promoteDue moves the queue's due delayed jobs to their streams.
func (b *Backend) promoteDue(ctx context.Context, q string) error {
	k := b.keys[q]
	for {
		n, err := promoteScript.Run(ctx, b.client, k.all, msArg(b.now()), b.qcfg.Events.MaxLen, promoteBatch, k.base).Int()
		if err != nil || n < promoteBatch {
			return err
		}
	}
}

// reclaim takes back the queue's deliveries whose lease ran out.
func (b *Backend) reclaim(ctx context.Context, q string) error {
	k := b.keys[q]
	for {
		res, err := reclaimScript.Run(ctx, b.client, k.all, k.base, msArg(b.now()), b.qcfg.Events.MaxLen,
			b.qcfg.MaxStalled, b.qcfg.Retention.Completed, b.qcfg.Retention.Failed, 100).Int64Slice()
		if err != nil {
			return err
		}
		if res[0] > 0 {
			b.logger.Warn("stalled deliveries taken back (their worker stopped)", "queue", q, "count", res[0])
		}
		if res[1] > 0 {
			b.dropped(q, int(res[1]), "count")
		}
		if res[0] < 100 {
			return nil
		}
	}
}

// expire drops dead letters older than retention.failed_age.
func (b *Backend) expire(ctx context.Context, q string) error { return b.expireAt(ctx, q, b.now()) }

func (b *Backend) expireAt(ctx context.Context, q string, now time.Time) error {
	k := b.keys[q]
	cut := msArg(now.Add(-b.qcfg.Retention.FailedAge))
	for {
		n, err := expireScript.Run(ctx, b.client, k.all, k.base, cut, 500).Int()
		if err != nil {
			return err
		}
		if n > 0 {
			b.dropped(q, n, "age")
		}
		if n < 500 {
			return nil
		}
	}
}

// pruneMinutes deletes per-minute counts older than a day.
func (b *Backend) pruneMinutes(ctx context.Context, q string) error {
	k := b.keys[q]
	fields, err := b.client.HKeys(ctx, k.mins).Result()
	if err != nil {
		return err
	}
	old := b.now().Add(-24*time.Hour).Unix() / 60
	var del []string
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			if f[i] == ':' {
				if m, err := strconv.ParseInt(f[:i], 10, 64); err == nil && m < old {
					del = append(del, f)
				}
				break
			}
		}
	}
	if len(del) == 0 {
		return nil
	}
	return b.client.HDel(ctx, k.mins, del...).Err()
}
