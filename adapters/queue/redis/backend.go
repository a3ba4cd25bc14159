// Package redis is the shared queue driver ("redis"). Per queue q, under
// the hash tag {q} (so a queue lives in one Redis Cluster slot):
//
//	{q}:jobs                  HASH id → the job's record (JSON, see record.go)
//	{q}:wait:high …:normal …:low
//	                          LISTs of waiting jobs ("<token>:<id>", FIFO)
//	{q}:active                ZSET "<token>:<id>" by lease deadline
//	{q}:delayed               ZSET id by due time (delays and retries)
//	{q}:completed :failed :cancelled
//	                          LISTs "<ms>|<id>", newest first, trimmed to retention
//	{q}:events                STREAM of transitions, MAXLEN ~ events.max_len
//	{q}:stats                 HASH completed, failed, retried, stalled totals
//	{q}:minutes               HASH "<unix minute>:c|f" → count (24 h kept)
//	{q}:seq                   the token counter
//	{q}:wake                  LIST holding one element while jobs may wait for an idle worker
//	{q}:paused                present while paused
//	{q}:cancelling            SET of active jobs an admin cancelled
//	{q}:logs:<id>             LIST of a job's log lines (bounded)
//	{q}:dedup:<id>            WithJobID ids, for dedup_window
//
// Every state change is one Lua script (scripts.go). A worker claims jobs
// only for its free slots (fetch), and settles finished deliveries in the
// same round trip: the settlement removes the delivery's lease and writes
// the outcome in one script, so an outcome can never be separated from the
// end of its delivery. Live workers extend their leases on every heartbeat;
// a lease that runs out belongs to a dead worker and any worker process
// takes the job back (reclaim), counting a stall. Why lists and not the
// consumer group of a stream: docs/decisions/0010-job-lifecycle.md.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
)

// Backend implements queue.Backend on Redis. Safe for concurrent use.
// It does not close the client it was given (see Open for one it owns).
type Backend struct {
	cfg     Config
	qcfg    queue.Config
	client  goredis.UniversalClient
	logger  *slog.Logger
	obs     queue.Observer
	keys    map[string]keys
	closeFn func() error
	now     func() time.Time

	batchers map[string]*batcher
	limits   map[string]queue.Limit
	chunks   chan *finishedChunk // a search's buffers, kept for the next search
}

var (
	_ queue.Backend        = (*Backend)(nil)
	_ queue.Maintainer     = (*Backend)(nil)
	_ queue.CancelNotifier = (*Backend)(nil)
	_ queue.Pinger         = (*Backend)(nil)
	_ io.Closer            = (*Backend)(nil)
)

// New returns a backend for qcfg's queues over client. obs (nil: none)
// counts retention drops.
func New(cfg Config, qcfg queue.Config, client goredis.UniversalClient, logger *slog.Logger, obs queue.Observer) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue.redis: %w", err)
	}
	if err := qcfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if cfg.MinIdleTime < 3*qcfg.Heartbeat {
		return nil, fmt.Errorf("queue.redis: min_idle_time: %s is under three queue.heartbeat intervals (%s)",
			cfg.MinIdleTime, 3*qcfg.Heartbeat)
	}
	b := &Backend{cfg: cfg, qcfg: qcfg, client: client, logger: logger, obs: obs, keys: map[string]keys{},
		now: time.Now, batchers: map[string]*batcher{}, limits: qcfg.QueueLimits(), chunks: make(chan *finishedChunk, searchChunks)}
	for _, q := range qcfg.Queues {
		b.keys[q] = newKeys(cfg.Prefix, q)
		b.batchers[q] = newBatcher(b, q)
	}
	return b, nil
}

func (b *Backend) k(q string) (keys, error) {
	k, ok := b.keys[q]
	if !ok {
		return keys{}, fmt.Errorf("%w: %q", queue.ErrQueueNotFound, q)
	}
	return k, nil
}

func msArg(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Enqueue stores the jobs. Single-job calls from concurrent callers are
// gathered into one script call per round trip (see batcher).
func (b *Backend) Enqueue(ctx context.Context, q string, jobs []queue.NewRecord) error {
	bt, ok := b.batchers[q]
	if !ok {
		return fmt.Errorf("%w: %q", queue.ErrQueueNotFound, q)
	}
	if len(jobs) == 1 {
		return bt.add(ctx, jobs[0])
	}
	for len(jobs) > 0 {
		n := min(len(jobs), maxBatch)
		if err := b.enqueue(ctx, q, jobs[:n]); err != nil {
			return err
		}
		jobs = jobs[n:]
	}
	return nil
}

const maxBatch = 500

func (b *Backend) enqueue(ctx context.Context, q string, jobs []queue.NewRecord) error {
	k := b.keys[q]
	now := b.now()
	args := make([]any, 0, 4+6*len(jobs))
	args = append(args, k.base, msArg(now), b.qcfg.Events.MaxLen, b.cfg.DedupWindow.Milliseconds())
	for _, nr := range jobs {
		j := nr.Job
		head, tail := encodeSplit(j)
		due := int64(0)
		if j.RunAt.After(now) {
			due = dueMillis(j.RunAt)
		}
		uniq := "0"
		if nr.Unique {
			uniq = "1"
		}
		name := jsonString(j.Name)
		args = append(args, j.ID, due, uniq, name[1:len(name)-1], head, tail)
	}
	return enqueueScript.Run(ctx, b.client, k.all, args...).Err()
}

// batcher gathers single-job Enqueue calls of one queue: the first caller
// of an idle batcher is sent at once; callers arriving while a call is in
// flight go together in the next one. No timer, so a lone call never waits.
type batcher struct {
	b     *Backend
	q     string
	mu    sync.Mutex
	queue []*pendingJob
	busy  bool
}

type pendingJob struct {
	job  queue.NewRecord
	ctx  context.Context
	done chan error
}

func newBatcher(b *Backend, q string) *batcher { return &batcher{b: b, q: q} }

func (bt *batcher) add(ctx context.Context, nr queue.NewRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingJob{job: nr, ctx: ctx, done: make(chan error, 1)}
	bt.mu.Lock()
	bt.queue = append(bt.queue, p)
	lead := !bt.busy
	bt.busy = true
	bt.mu.Unlock()
	if lead {
		go bt.flush()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The job may still be stored: the caller sees the error.
		return ctx.Err()
	}
}

// flush sends what is queued, one batch per round trip, until empty.
func (bt *batcher) flush() {
	for {
		bt.mu.Lock()
		batch := bt.queue
		if len(batch) > maxBatch {
			batch = batch[:maxBatch]
		}
		bt.queue = bt.queue[len(batch):]
		if len(batch) == 0 {
			bt.queue = nil
			bt.busy = false
			bt.mu.Unlock()
			return
		}
		bt.mu.Unlock()
		// Jobs whose callers gave up are not sent.
		live := batch[:0:0]
		jobs := make([]queue.NewRecord, 0, len(batch))
		var deadline time.Time
		for _, p := range batch {
			if p.ctx.Err() != nil {
				p.done <- p.ctx.Err()
				continue
			}
			if d, ok := p.ctx.Deadline(); ok && (deadline.IsZero() || d.After(deadline)) {
				deadline = d
			}
			live = append(live, p)
			jobs = append(jobs, p.job)
		}
		if len(live) == 0 {
			continue
		}
		ctx := context.Background()
		cancel := context.CancelFunc(func() {})
		if !deadline.IsZero() && len(live) == len(batch) {
			// Every caller has a deadline: the call need not outlive the last.
			ctx, cancel = context.WithDeadline(ctx, deadline)
		}
		err := bt.b.enqueue(ctx, bt.q, jobs)
		cancel()
		for _, p := range live {
			p.done <- err
		}
	}
}

// Fetch settles and claims in one script call.
func (b *Backend) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	k, err := b.k(req.Queue)
	if err != nil {
		return nil, err
	}
	now := b.now()
	args := make([]any, 0, 13+8*len(req.Settle))
	lim, glim := b.limits[req.Queue], b.qcfg.GroupLimits()
	args = append(args, k.base, msArg(now), b.qcfg.Events.MaxLen, msArg(now.Add(b.cfg.MinIdleTime)), req.Max,
		b.qcfg.Retention.Completed, b.qcfg.Retention.Failed, lim.Max, lim.Per.Milliseconds(), len(req.Settle),
		b.qcfg.GroupConcurrency, glim.Max, glim.Per.Milliseconds())
	for _, st := range req.Settle {
		args = appendSettlement(args, st, now)
	}
	res, err := fetchScript.Run(ctx, b.client, k.all, args...).Slice()
	if err != nil {
		return nil, err
	}
	if d, _ := res[0].(int64); d > 0 {
		b.dropped(req.Queue, int(d), "count")
	}
	if p, _ := res[1].(int64); p == 1 {
		return nil, queue.ErrPaused
	}
	var jobs []*queue.Job
	for i := 3; i+2 < len(res); i += 3 {
		tk, _ := res[i].(string)
		id, _ := res[i+1].(string)
		data, _ := res[i+2].(string)
		jobs = append(jobs, b.claimed(req.Queue, tk, id, data, now))
	}
	if until := toInt(res[2]); until > 0 {
		return jobs, &queue.HeldError{Until: time.UnixMilli(until)}
	}
	return jobs, nil
}

var outcomeStates = map[queue.Outcome]queue.State{queue.Completed: queue.StateCompleted, queue.Retry: queue.StateDelayed,
	queue.Dead: queue.StateFailed, queue.Cancelled: queue.StateCancelled, queue.Released: queue.StateWaiting,
	queue.Postponed: queue.StateDelayed}

// outcomeKinds names the outcomes for the fetch script.
var outcomeKinds = map[queue.Outcome]string{queue.Completed: "completed", queue.Retry: "retry", queue.Dead: "dead",
	queue.Cancelled: "cancelled", queue.Released: "released", queue.Postponed: "postponed"}

// appendSettlement adds one settlement: the record as it is after the
// outcome, built here from the delivered job (the script checks that the
// delivery is still current before writing it).
func appendSettlement(args []any, st queue.Settlement, now time.Time) []any {
	j := *st.Job
	j.State = outcomeStates[st.Outcome]
	kind := outcomeKinds[st.Outcome]
	if st.Progress != nil {
		j.Percent = *st.Progress
	}
	now = now.Truncate(time.Millisecond)
	switch st.Outcome {
	case queue.Completed:
		j.FinishedAt, j.Percent, j.Error = now, 100, ""
	case queue.Retry:
		j.Attempt++
		j.RunAt, j.Error = st.At, st.Error
	case queue.Dead, queue.Cancelled:
		j.FinishedAt = now
		if st.Error != "" {
			j.Error = st.Error
		}
	case queue.Released:
		j.StartedAt, j.RunAt = time.Time{}, now
	case queue.Postponed:
		j.RunAt = st.At
	}
	errJSON := ""
	if st.Error != "" {
		errJSON = jsonString(st.Error)
	}
	if st.Job.Undecodable != nil {
		return append(args, "dead", st.Job.ID, st.Job.Delivery, errJSON,
			rawRecord(string(st.Job.Payload), st.Job.Undecodable, now), "", "1", "(undecodable)")
	}
	name := jsonString(j.Name)
	return append(args, kind, j.ID, st.Job.Delivery, errJSON, encodeRecord(&j), j.Group, j.AttemptsMade(), name[1:len(name)-1])
}

// claimed turns one claim of the fetch script into a Job.
func (b *Backend) claimed(q, token, id, data string, now time.Time) *queue.Job {
	if id == "" {
		// An element that is not a job: dead-lettered under an id of its
		// own, with what was found as payload.
		return &queue.Job{ID: "raw-" + strconv.FormatInt(now.UnixNano(), 36) + "-" + shortHash(data), Queue: q,
			Name: "(undecodable)", Payload: []byte(data), State: queue.StateActive, Attempt: 1, MaxAttempts: 1,
			StartedAt: now, Undecodable: errors.New("waiting-list element is not <token>:<job id>")}
	}
	j, err := decodeRecord(q, id, []byte(data))
	if err != nil {
		return &queue.Job{ID: id, Queue: q, Name: "(undecodable)", Payload: []byte(data), State: queue.StateActive,
			Attempt: 1, MaxAttempts: 1, Delivery: token, StartedAt: now, Undecodable: err}
	}
	j.Delivery = token
	return j
}

// shortHash names a raw element in the id of its dead letter.
func shortHash(s string) string {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return strconv.FormatUint(uint64(h), 36)
}

// Wait blocks until an idle worker is asked for (an element on the wake
// list: jobs were added, promoted, retried or taken back), d passes or
// ctx ends. One element wakes one worker; a claim that leaves jobs waiting
// adds another, so idle workers wake in turn, not all at once.
func (b *Backend) Wait(ctx context.Context, q string, d time.Duration) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	err = b.client.BRPop(ctx, d, k.wake).Err()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	return err
}

// Heartbeat extends the leases of the running deliveries that are still
// current and reports which of them an admin cancelled.
func (b *Backend) Heartbeat(ctx context.Context, q, consumer string, running []*queue.Job) ([]string, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 1+len(running))
	args = append(args, msArg(b.now().Add(b.cfg.MinIdleTime)))
	for _, j := range running {
		if j.Delivery != "" {
			args = append(args, j.Delivery+":"+j.ID)
		}
	}
	if len(args) == 1 {
		return nil, nil
	}
	return heartbeatScript.Run(ctx, b.client, k.all, args...).StringSlice()
}

// Cancellations subscribes to the queue's cancel channel.
func (b *Backend) Cancellations(ctx context.Context, q string) <-chan string {
	out := make(chan string, 64)
	k, err := b.k(q)
	if err != nil {
		close(out)
		return out
	}
	ps := b.client.Subscribe(ctx, k.cancelChannel)
	go func() {
		defer close(out)
		defer ps.Close()
		ch := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				select {
				case out <- m.Payload:
				default: // the heartbeat reports it
				}
			}
		}
	}()
	return out
}

// Report sets an active delivery's progress and adds its log line.
func (b *Backend) Report(ctx context.Context, j *queue.Job, r queue.Report) error {
	k, err := b.k(j.Queue)
	if err != nil || j.Delivery == "" {
		return err
	}
	if r.Progress != nil {
		err = progressScript.Run(ctx, b.client, k.all, msArg(b.now()), b.qcfg.Events.MaxLen, j.ID, j.Delivery, *r.Progress).Err()
	}
	if r.Log != nil && b.qcfg.Logs.MaxLines > 0 && err == nil {
		enc := `{"at":` + strconv.FormatInt(r.Log.At.UnixMilli(), 10) + `,"message":` + jsonString(r.Log.Message) + `}`
		err = logScript.Run(ctx, b.client, k.all, k.base, j.ID, j.Delivery, enc, b.qcfg.Logs.MaxLines).Err()
	}
	return err
}

func (b *Backend) dropped(q string, n int, reason string) {
	b.logger.Warn("dead-lettered jobs dropped by retention", "queue", q, "count", n, "reason", reason)
	if b.obs != nil {
		b.obs.DeadDropped(q, n, reason)
	}
}

// Ping checks the connection.
func (b *Backend) Ping(ctx context.Context) error { return b.client.Ping(ctx).Err() }

// Close closes the client only if Open created it.
func (b *Backend) Close() error {
	if b.closeFn != nil {
		return b.closeFn()
	}
	return nil
}
