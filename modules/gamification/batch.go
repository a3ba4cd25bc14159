package gamification

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// grantResult is the outcome of one grant of a batch: the grant and its
// notification payload, or ErrBadgeNotFound, ErrAlreadyGranted or the
// batch's database error.
type grantResult struct {
	grant   Grant
	payload json.RawMessage
	err     error
}

// grantCall is a grant waiting for, or carried by, a batch.
type grantCall struct {
	ctx  context.Context
	g    Grant
	done chan struct{} // closed once res is set
	res  grantResult
}

// batchTimeout bounds a batch's statement. A batch carries many callers'
// grants, so it runs on none of their contexts: a caller that gives up
// does not abort the others' commit.
const batchTimeout = 10 * time.Second

// grantBatcher commits concurrent grants together (group commit), one
// batch at a time. A grant that arrives while no batch runs goes at once,
// alone: when grants do not overlap, batching adds no wait. One that
// arrives while a batch runs waits, with every grant arriving meanwhile,
// and they all go in the next batch: one statement (PostgreSQL) or one
// transaction (SQLite), up to maxBatch. So under load the round trip and
// the commit are paid once per batch, and the batches grow as the
// database slows down. (Two batches at once were measured no better,
// docs/decisions/0030.)
//
// After its commit a batch runs afterCommit, once for all of its grants
// (the cached profiles, the notifications: one round trip each, not one
// per grant), and only then answers its callers. The next batch does not
// wait for it: it starts as soon as this one has committed. Safe for
// concurrent use.
type grantBatcher struct {
	commit   func(ctx context.Context, gs []Grant) ([]grantResult, error)
	maxBatch int
	// afterCommit, when set, gets the results of each committed batch,
	// failed grants included. It must not fail a grant: the grants are
	// made.
	afterCommit func(ctx context.Context, res []grantResult)
	log         *slog.Logger

	// beforeCommit, when set (tests only), runs before each batch's commit.
	beforeCommit func([]Grant)

	mu      sync.Mutex
	busy    bool // a batch is running
	waiting []*grantCall
	batches int64 // batches committed, for tests
}

// grant commits g in a batch and returns its result. A grant still
// waiting when ctx ends leaves the queue and returns ctx's error, never
// granted; once its batch is sent, it waits for the commit (bounded by
// batchTimeout) so that the caller learns whether the grant was made.
func (b *grantBatcher) grant(ctx context.Context, g Grant) (Grant, json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return Grant{}, nil, err
	}
	c := &grantCall{ctx: ctx, g: g, done: make(chan struct{})}
	b.mu.Lock()
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		b.run([]*grantCall{c})
		return c.res.grant, c.res.payload, c.res.err
	}
	b.waiting = append(b.waiting, c)
	b.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		b.mu.Lock()
		if i := slices.Index(b.waiting, c); i >= 0 {
			b.waiting = slices.Delete(b.waiting, i, i+1)
			b.mu.Unlock()
			return Grant{}, nil, ctx.Err()
		}
		b.mu.Unlock()
		<-c.done
	}
	return c.res.grant, c.res.payload, c.res.err
}

// run commits calls, starts the grants that waited meanwhile (in a
// goroutine of their own, so that their commit overlaps this batch's
// afterCommit and this caller returns now) or marks the batcher idle,
// then runs afterCommit and answers the callers.
func (b *grantBatcher) run(calls []*grantCall) {
	res := b.exec(calls)
	b.mu.Lock()
	next := b.take()
	b.busy = len(next) > 0
	b.mu.Unlock()
	if len(next) > 0 {
		go b.run(next)
	}
	if b.afterCommit != nil && slices.ContainsFunc(res, func(r grantResult) bool { return r.err == nil }) {
		b.afterSafely(calls[0].ctx, res)
	}
	for i, c := range calls {
		c.res = res[i]
		close(c.done)
	}
}

// take removes up to maxBatch waiting calls, oldest first. A second grant
// of a (user, badge) pair already in the batch stays for the next one, so
// that it gets ErrAlreadyGranted from the first's commit. b.mu is held.
func (b *grantBatcher) take() []*grantCall {
	if len(b.waiting) == 0 {
		return nil
	}
	type pair struct{ user, badge int64 }
	seen := make(map[pair]bool, min(len(b.waiting), b.maxBatch))
	var out []*grantCall
	rest := b.waiting[:0]
	for _, c := range b.waiting {
		p := pair{c.g.UserID, c.g.BadgeID}
		if len(out) == b.maxBatch || seen[p] {
			rest = append(rest, c)
			continue
		}
		seen[p] = true
		out = append(out, c)
	}
	clear(b.waiting[len(rest):])
	b.waiting = rest
	return out
}

// exec commits one batch and returns each call's result.
func (b *grantBatcher) exec(calls []*grantCall) []grantResult {
	gs := make([]Grant, len(calls))
	for i, c := range calls {
		gs[i] = c.g
	}
	if b.beforeCommit != nil {
		b.beforeCommit(gs)
	}
	res, err := b.commitSafely(calls[0].ctx, gs)
	b.mu.Lock()
	b.batches++
	b.mu.Unlock()
	if err != nil {
		res = make([]grantResult, len(calls))
		for i := range res {
			res[i].err = err
		}
	}
	return res
}

// afterSafely runs afterCommit on its own deadline. A panic in it is
// logged: the grants are committed, and their notifications wait in the
// outbox for the relay, so the callers still get their grants.
func (b *grantBatcher) afterSafely(parent context.Context, res []grantResult) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("after a grant batch: panic; its notifications wait in the outbox for the relay",
				"grants", len(res), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), batchTimeout)
	defer cancel()
	b.afterCommit(ctx, res)
}

// commitSafely runs the commit on its own deadline. A panic in it becomes
// the batch's error: the callers get an answer and the next batch runs,
// where a panic would leave every later grant waiting.
func (b *grantBatcher) commitSafely(parent context.Context, gs []Grant) (res []grantResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("gamification: grant batch panicked: %v\n%s", r, debug.Stack())
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), batchTimeout)
	defer cancel()
	res, err = b.commit(ctx, gs)
	if err == nil && len(res) != len(gs) {
		err = fmt.Errorf("gamification: grant batch of %d got %d results", len(gs), len(res))
	}
	return res, err
}
