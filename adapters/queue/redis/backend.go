// Package redis is the shared queue driver ("redis"). Per queue q, under
// the hash tag {q} (so a queue lives in one Redis Cluster slot):
//
//	{q}:jobs                 HASH id → the job's record (JSON, see record.go)
//	{q}:high :normal :low    STREAMs of waiting jobs (entries: id <job id>),
//	                         read through the consumer group; an entry stays
//	                         pending while its job is active
//	{q}:active               ZSET id by start time
//	{q}:delayed              ZSET id by due time (delays and retries)
//	{q}:completed :failed :cancelled
//	                         ZSETs id by finish time, trimmed to retention
//	{q}:events               STREAM of transitions, MAXLEN ~ events.max_len
//	{q}:stats                HASH completed, failed, retried, stalled totals
//	{q}:minutes              HASH "<unix minute>:c|f" → count (24 h kept)
//	{q}:paused               present while paused
//	{q}:cancelling           SET of active jobs an admin cancelled
//	{q}:logs:<id>            LIST of a job's log lines (bounded)
//	{q}:dedup:<id>           WithJobID ids, for dedup_window
//
// Every state change is one Lua script (scripts.go). A worker claims jobs
// only for its free slots (fetch), and settles finished deliveries in the
// same round trip: the stream entry is acknowledged and deleted in the
// script that writes the outcome, so storage holds only waiting and active
// entries whatever is stuck, and an outcome and its acknowledgement can
// never be separated. Live workers renew their pending entries on every
// heartbeat (XCLAIM JUSTID); entries idle past min_idle_time belong to a
// dead worker and are taken back by any worker process (reclaim), which
// counts a stall.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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

	mu    sync.Mutex
	lasts map[string][3]string // per queue: newest stream ids when a fetch came up short
}

var _ queue.Backend = (*Backend)(nil)

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
		now: time.Now, batchers: map[string]*batcher{}, lasts: map[string][3]string{}}
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

// ConsumerPrefix is queue.redis.consumer: the Worker starts its consumer
// name with it.
func (b *Backend) ConsumerPrefix() string { return b.cfg.Consumer }

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
		rec := encodeRecord(j)
		cut := strings.Index(string(rec), `"entry":"`) + len(`"entry":"`)
		due := int64(0)
		if j.RunAt.After(now) {
			due = dueMillis(j.RunAt)
		}
		uniq := "0"
		if nr.Unique {
			uniq = "1"
		}
		name := jsonString(j.Name)
		args = append(args, j.ID, due, uniq, name[1:len(name)-1], rec[:cut], rec[cut:])
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
	args := make([]any, 0, 9+8*len(req.Settle))
	args = append(args, k.base, msArg(now), b.qcfg.Events.MaxLen, b.cfg.Group, req.Consumer, req.Max,
		b.qcfg.Retention.Completed, b.qcfg.Retention.Failed, len(req.Settle))
	for _, st := range req.Settle {
		si, eid, ok := splitDelivery(st.Job.Delivery)
		if !ok {
			continue // not ours: nothing to settle
		}
		args = appendSettlement(args, st, si, eid, now)
	}
	// The count of settlements must match what was appended.
	args[8] = (len(args) - 9) / 8
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
	for i := 5; i+3 < len(res); i += 4 {
		si, _ := res[i].(int64)
		eid, _ := res[i+1].(string)
		id, _ := res[i+2].(string)
		data, _ := res[i+3].(string)
		jobs = append(jobs, b.claimed(req.Queue, int(si), eid, id, data, now))
	}
	if len(jobs) < req.Max {
		var last [3]string
		for i := range last {
			last[i], _ = res[2+i].(string)
		}
		b.mu.Lock()
		b.lasts[req.Queue] = maxIDs(b.lasts[req.Queue], last)
		b.mu.Unlock()
	}
	return jobs, nil
}

func appendSettlement(args []any, st queue.Settlement, si int, eid string, now time.Time) []any {
	kind := map[queue.Outcome]string{queue.Completed: "completed", queue.Retry: "retry", queue.Dead: "dead",
		queue.Cancelled: "cancelled", queue.Released: "released"}[st.Outcome]
	at := msArg(now)
	if st.Outcome == queue.Retry {
		at = strconv.FormatInt(dueMillis(st.At), 10)
	}
	errJSON := ""
	if st.Error != "" {
		errJSON = jsonString(st.Error)
	}
	prog := ""
	if st.Progress != nil {
		prog = strconv.Itoa(*st.Progress)
	}
	rep := ""
	if st.Job.Undecodable != nil {
		raw := string(st.Job.Payload)
		rep = string(rawRecord(raw, st.Job.Undecodable, now))
	}
	return append(args, kind, st.Job.ID, si, eid, at, errJSON, prog, rep)
}

// claimed turns one claim of the fetch script into a Job.
func (b *Backend) claimed(q string, si int, eid, id, data string, now time.Time) *queue.Job {
	delivery := strconv.Itoa(si) + ":" + eid
	if id == "" {
		// A stream entry that is not a job: dead-lettered under an id of
		// its own, with what was found as payload.
		return &queue.Job{ID: "entry-" + eid, Queue: q, Name: "(undecodable)", Payload: []byte(data),
			State: queue.StateActive, Attempt: 1, MaxAttempts: 1, Delivery: delivery, StartedAt: now,
			Undecodable: errors.New("stream entry has no job id")}
	}
	j, err := decodeRecord(q, id, []byte(data))
	if err != nil {
		return &queue.Job{ID: id, Queue: q, Name: "(undecodable)", Payload: []byte(data), State: queue.StateActive,
			Attempt: 1, MaxAttempts: 1, Delivery: delivery, StartedAt: now, Undecodable: err}
	}
	j.Delivery = delivery
	return j
}

func splitDelivery(d string) (int, string, bool) {
	s, eid, ok := strings.Cut(d, ":")
	if !ok {
		return 0, "", false
	}
	si, err := strconv.Atoi(s)
	if err != nil || si < 1 || si > 3 {
		return 0, "", false
	}
	return si, eid, true
}

// maxIDs keeps, per stream, the larger of two entry ids.
func maxIDs(a, b [3]string) [3]string {
	for i := range a {
		if streamIDLess(a[i], b[i]) {
			a[i] = b[i]
		}
	}
	return a
}

func streamIDLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	if b == "" {
		return false
	}
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ami, _ := strconv.ParseUint(am, 10, 64)
	bmi, _ := strconv.ParseUint(bm, 10, 64)
	if ami != bmi {
		return ami < bmi
	}
	asi, _ := strconv.ParseUint(as, 10, 64)
	bsi, _ := strconv.ParseUint(bs, 10, 64)
	return asi < bsi
}

// Wait blocks on the queue's streams after the newest entries the last
// short fetch saw: any entry added since (enqueue, promotion, retry,
// takeover) ends it.
func (b *Backend) Wait(ctx context.Context, q string, d time.Duration) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	b.mu.Lock()
	last, ok := b.lasts[q]
	b.mu.Unlock()
	if !ok {
		return nil // no fetch came up short yet: fetch again
	}
	streams := []string{k.streams[0], k.streams[1], k.streams[2], last[0], last[1], last[2]}
	for i := 3; i < 6; i++ {
		if streams[i] == "" {
			streams[i] = "0-0"
		}
	}
	err = b.client.XRead(ctx, &goredis.XReadArgs{Streams: streams, Count: 1, Block: d}).Err()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	return err
}

// Heartbeat renews the running deliveries (XCLAIM JUSTID resets their
// idle time) and reports which of them an admin cancelled.
func (b *Backend) Heartbeat(ctx context.Context, q, consumer string, running []*queue.Job) ([]string, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	var byStream [3][]string
	ids := make([]any, 0, len(running))
	for _, j := range running {
		if si, eid, ok := splitDelivery(j.Delivery); ok {
			byStream[si-1] = append(byStream[si-1], eid)
			ids = append(ids, j.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	p := b.client.Pipeline()
	for i, eids := range byStream {
		if len(eids) > 0 {
			p.XClaimJustID(ctx, &goredis.XClaimArgs{Stream: k.streams[i], Group: b.cfg.Group, Consumer: consumer, Messages: eids})
		}
	}
	member := p.SMIsMember(ctx, k.cancelling, ids...)
	if _, err := p.Exec(ctx); err != nil {
		return nil, err
	}
	var cancel []string
	for i, in := range member.Val() {
		if in {
			cancel = append(cancel, ids[i].(string))
		}
	}
	return cancel, nil
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

// ReportProgress sets an active delivery's progress.
func (b *Backend) ReportProgress(ctx context.Context, j *queue.Job, pct int) error {
	k, err := b.k(j.Queue)
	if err != nil {
		return err
	}
	_, eid, ok := splitDelivery(j.Delivery)
	if !ok {
		return nil
	}
	return progressScript.Run(ctx, b.client, k.all, msArg(b.now()), b.qcfg.Events.MaxLen, j.ID, eid, pct).Err()
}

// AppendLog adds a line to an active delivery's log.
func (b *Backend) AppendLog(ctx context.Context, j *queue.Job, line queue.LogLine) error {
	k, err := b.k(j.Queue)
	if err != nil {
		return err
	}
	_, eid, ok := splitDelivery(j.Delivery)
	if !ok || b.qcfg.Logs.MaxLines == 0 {
		return nil
	}
	enc := `{"at":` + strconv.FormatInt(line.At.UnixMilli(), 10) + `,"message":` + jsonString(line.Message) + `}`
	return logScript.Run(ctx, b.client, k.all, k.base, j.ID, eid, enc, b.qcfg.Logs.MaxLines).Err()
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
