package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const promoteBatch = 500

// Run does a worker process's share of the background work until ctx
// ends: promoting due delayed jobs, taking back stalled deliveries (every
// claim_interval), and every minute dropping dead letters past
// retention.failed_age and per-minute counts past a day. Every worker
// process runs it; the scripts make concurrent runs safe. Redis errors are
// logged once and retried.
//
// Promoting does not poll. A queue's promote call returns the earliest
// due time left in its delayed set, and a script that adds a job due
// before every other one publishes that time on the queue's due channel.
// Run sleeps until the earliest due time it knows, promotes a queue at
// most once per promote_interval, re-reads a queue when its subscription
// is made again (a reconnection may have lost notices), and promotes every
// queue at each stall check as well, so a lost notice delays a job by at
// most claim_interval. While nothing is delayed, Run sends Redis only the
// stall checks and the promote calls beside them.
func (b *Backend) Run(ctx context.Context) error {
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
	notes := b.dueNotes(ctx)
	plan := newPromotePlan(b.cfg.PromoteInterval)
	promote := func(q string) {
		at := b.now()
		next, err := b.promoteDue(ctx, q)
		report("promote", err)
		plan.promoted(q, at, next, err)
	}
	b.housekeeping(ctx, report)
	for q := range b.keys {
		promote(q)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if at, ok := plan.wake(); ok {
			timer.Reset(max(at.Sub(b.now()), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			now := b.now()
			for q := range b.keys {
				if plan.due(q, now) {
					promote(q)
				}
			}
		case n, ok := <-notes:
			if !ok {
				notes = nil // ctx ended
				continue
			}
			if n.at.IsZero() {
				n.at = b.now()
			}
			plan.told(n.queue, n.at)
		case <-claimT.C:
			for q := range b.keys {
				report("stall check", b.reclaim(ctx, q))
				promote(q)
			}
		case <-minuteT.C:
			b.housekeeping(ctx, report)
		}
	}
}

// promotePlan is when Run promotes each queue next. Run's goroutine owns
// it.
type promotePlan struct {
	every time.Duration
	next  map[string]time.Time // the earliest due time known; zero: none
	last  map[string]time.Time // the last promote call
}

func newPromotePlan(every time.Duration) *promotePlan {
	return &promotePlan{every: every, next: map[string]time.Time{}, last: map[string]time.Time{}}
}

// promoted records a promote call of q made at at: next is the earliest
// due time it left (ms, -1 for none). After an error q is tried again one
// interval later.
func (p *promotePlan) promoted(q string, at time.Time, next int64, err error) {
	p.last[q] = at
	switch {
	case err != nil:
		p.next[q] = at
	case next < 0:
		p.next[q] = time.Time{}
	default:
		p.next[q] = time.UnixMilli(next)
	}
}

// told records that a job of q is due at at.
func (p *promotePlan) told(q string, at time.Time) {
	if n, ok := p.next[q]; ok && (n.IsZero() || at.Before(n)) {
		p.next[q] = at
	}
}

// when is when q is to be promoted: at its earliest due time, and not
// within an interval of its last call. False: nothing of q is due.
func (p *promotePlan) when(q string) (time.Time, bool) {
	n := p.next[q]
	if n.IsZero() {
		return n, false
	}
	if soonest := p.last[q].Add(p.every); n.Before(soonest) {
		n = soonest
	}
	return n, true
}

func (p *promotePlan) due(q string, now time.Time) bool {
	at, ok := p.when(q)
	return ok && !now.Before(at)
}

// wake is the earliest time any queue is to be promoted.
func (p *promotePlan) wake() (time.Time, bool) {
	var first time.Time
	found := false
	for q := range p.next {
		if at, ok := p.when(q); ok && (!found || at.Before(first)) {
			first, found = at, true
		}
	}
	return first, found
}

// dueNote says that a job of queue is due at at; the zero at: the
// subscription was (re)made and the queue is to be read again.
type dueNote struct {
	queue string
	at    time.Time
}

// dueNotes subscribes to the queues' due channels until ctx ends.
func (b *Backend) dueNotes(ctx context.Context) <-chan dueNote {
	byChannel := make(map[string]string, len(b.keys))
	channels := make([]string, 0, len(b.keys))
	for q, k := range b.keys {
		byChannel[k.dueChannel] = q
		channels = append(channels, k.dueChannel)
	}
	out := make(chan dueNote, 64)
	ps := b.client.Subscribe(ctx, channels...)
	go func() {
		defer close(out)
		defer ps.Close()
		in := ps.ChannelWithSubscriptions()
		for {
			var n dueNote
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *goredis.Subscription:
					if m.Kind != "subscribe" {
						continue
					}
					n.queue = byChannel[m.Channel]
				case *goredis.Message:
					ms, err := strconv.ParseInt(m.Payload, 10, 64)
					if err != nil {
						continue
					}
					n = dueNote{queue: byChannel[m.Channel], at: time.UnixMilli(ms)}
				default:
					continue
				}
			}
			select {
			case out <- n:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (b *Backend) housekeeping(ctx context.Context, report func(string, error)) {
	for q := range b.keys {
		report("dead-letter expiry", b.expire(ctx, q))
		report("minute pruning", b.pruneMinutes(ctx, q))
	}
}

// promoteDue moves the queue's due delayed jobs to waiting and returns
// the earliest due time left (Unix ms, -1 when none is left).
func (b *Backend) promoteDue(ctx context.Context, q string) (int64, error) {
	k := b.keys[q]
	for {
		res, err := promoteScript.Run(ctx, b.client, k.all, msArg(b.now()), b.qcfg.Events.MaxLen, promoteBatch, k.base).Int64Slice()
		if err != nil {
			return 0, err
		}
		if res[0] < promoteBatch {
			return res[1], nil
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
