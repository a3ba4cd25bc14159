// Package redis is the shared queue driver ("redis"): jobs in Redis
// Streams (one per queue and priority, through the project's redisstream
// transport), delayed jobs and retries in a sorted set, and per queue a
// stats hash, a capped list of completed records, a dead-letter hash with
// its index, and a paused flag. All of a queue's keys share the hash tag
// {name}, so the driver works on Redis Cluster.
//
// Keys of queue q (Prefix default "tipbox:queue:"):
//
//	{q}:high {q}:normal {q}:low  streams; entries readable in redis-cli
//	                             (_watermill_message_uuid, payload = job JSON, metadata)
//	{q}:delayed                  ZSET job JSON by due time (ms): delays and retries
//	{q}:stats                    HASH completed, failed, retried totals
//	{q}:completed                LIST newest retention.completed records
//	{q}:failed, {q}:failed:index HASH id → dead letter, ZSET id by failure time
//	{q}:paused                   present while paused
//	{q}:dedup:<id>               WithJobID ids, for dedup_window
//
// Scaling: every worker process joins the consumer group `group`; run as
// many as needed, each with its own stable `consumer` name (the host name
// by default; set it per replica when several share a host). A process
// runs queue.concurrency jobs per queue at once and reads batch_size
// entries ahead per priority. A worker killed mid-job loses nothing: its
// entries stay pending and another worker takes them over after
// min_idle_time (live workers renew theirs, so a long job is not stolen);
// a worker restarted under the same name resumes them at once.
//
// Trade-offs: a bigger batch_size drains faster but counts more entries as
// active and leaves more with a dead worker; a shorter min_idle_time takes
// over sooner but must exceed a worker's pauses; promote_interval bounds how
// late a delayed job or retry starts (and costs one ZRANGEBYSCORE per queue
// per tick); record_flush and ack_flush_interval trade counter freshness and
// redelivery window for fewer round trips.
//
// Reading the stats: waiting = entries not yet delivered to the group;
// active = delivered and not acked (running, plus read-ahead held by a
// worker, plus up to ack_flush_interval of finished ones); delayed = delays
// and retries not due yet; completed/failed = totals since the queue was
// created (failed counts dead-lettered jobs, not failed attempts; retries
// are in {q}:stats "retried" and the Prometheus counters).
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/queue/redisstream"
	"github.com/tipbox/tipbox/core/queue"
)

// Backend implements queue.Backend on Redis. Safe for concurrent use.
// It does not close the client it was given (see Open for one it owns).
type Backend struct {
	cfg     Config
	qcfg    queue.Config
	client  goredis.UniversalClient
	logger  *slog.Logger
	wmlog   watermill.LoggerAdapter
	pub     *redisstream.Publisher
	rec     *recorder
	keys    map[string]keys
	closeFn func() error
}

var _ queue.Backend = (*Backend)(nil)

// New returns a backend for qcfg's queues over client.
func New(cfg Config, qcfg queue.Config, client goredis.UniversalClient, logger *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue.redis: %w", err)
	}
	if err := qcfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	wmlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{}, client, wmlog)
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, qcfg: qcfg, client: client, logger: logger, wmlog: wmlog, pub: pub, keys: map[string]keys{}}
	for _, q := range qcfg.Queues {
		b.keys[q] = newKeys(cfg.Prefix, q)
	}
	b.rec = newRecorder(client, b.keys, qcfg.Retention.Completed, cfg.RecordFlush, logger)
	return b, nil
}

func (b *Backend) k(q string) (keys, error) {
	k, ok := b.keys[q]
	if !ok {
		return keys{}, fmt.Errorf("%w: %q", queue.ErrQueueNotFound, q)
	}
	return k, nil
}

// Topic is the stream key of a queue's priority.
func (b *Backend) Topic(q string, p queue.Priority) string {
	return newKeys(b.cfg.Prefix, q).streams[prioIndex(p)]
}

// Enqueue: due jobs go through the auto-batching publisher (one pipeline
// for many concurrent callers), delayed ones to the sorted set, and jobs
// with a caller-chosen id through a script that adds them only once.
func (b *Backend) Enqueue(ctx context.Context, q string, jobs []queue.Scheduled) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	// Entries, not message.NewMessage: no per-job metadata map to build
	// and marshal (see redisstream.Publisher.PublishEntries).
	var due [3][]redisstream.Entry
	var later []goredis.Z
	for _, s := range jobs {
		switch {
		case s.Dedup:
			if err := b.addUnique(ctx, k, s); err != nil {
				return err
			}
		case !s.RunAt.IsZero() && s.RunAt.After(time.Now()):
			later = append(later, goredis.Z{Score: float64(dueMillis(s.RunAt)), Member: s.Body})
		default:
			i := prioIndex(s.Job.Priority)
			due[i] = append(due[i], redisstream.Entry{UUID: s.Job.ID, Payload: s.Body})
		}
	}
	if len(later) > 0 {
		if err := b.client.ZAdd(ctx, k.delayed, later...).Err(); err != nil {
			return err
		}
	}
	for i, entries := range due {
		if len(entries) > 0 {
			if err := b.pub.PublishEntries(k.streams[i], entries...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Backend) addUnique(ctx context.Context, k keys, s queue.Scheduled) error {
	mode, score := "now", "0"
	if !s.RunAt.IsZero() && s.RunAt.After(time.Now()) {
		mode, score = "later", strconv.FormatInt(dueMillis(s.RunAt), 10)
	}
	args := append([]any{b.cfg.DedupWindow.Milliseconds(), mode, score, s.Body},
		redisstream.Entry{UUID: s.Job.ID, Payload: s.Body}.Values()...)
	return addUnique.Run(ctx, b.client, []string{k.dedupPrefix + s.Job.ID, k.streams[prioIndex(s.Job.Priority)], k.delayed}, args...).Err()
}

// Subscriber returns a consumer-group subscriber for the queue's streams.
func (b *Backend) Subscriber(q string, inFlight int) (message.Subscriber, error) {
	return redisstream.NewSubscriber(redisstream.SubscriberConfig{
		ConsumerGroup:    b.cfg.Group,
		Consumer:         b.cfg.ConsumerName(),
		BatchSize:        b.cfg.BatchSize,
		InFlight:         inFlight,
		ClaimInterval:    b.cfg.ClaimInterval,
		MinIdleTime:      b.cfg.MinIdleTime,
		AckFlushInterval: b.cfg.AckFlushInterval,
		CloseTimeout:     b.qcfg.ShutdownTimeout,
		DeadLetter:       b.deadLetter,
	}, b.client, b.wmlog)
}

// deadLetter receives stream entries the transport cannot decode.
func (b *Backend) deadLetter(ctx context.Context, topic, id string, f map[string]any, cause error) error {
	raw, _ := json.Marshal(f)
	q := queueOfTopic(topic)
	b.logger.Error("undecodable stream entry dead-lettered", "stream", topic, "entry", id, "error", cause)
	return b.Bury(ctx, q, queue.DeadLetter{ID: id, Raw: string(raw),
		Error: queue.ErrUndecodable.Error() + ": " + cause.Error(), Attempts: 1, FailedAt: time.Now()})
}

// Complete buffers the completion; records are written in pipelines.
func (b *Backend) Complete(ctx context.Context, job *queue.Job) error {
	return b.rec.add(ctx, job)
}

// Reschedule adds the next attempt to the delayed set and counts a retry.
func (b *Backend) Reschedule(ctx context.Context, job *queue.Job, body []byte, at time.Time) error {
	k, err := b.k(job.Queue)
	if err != nil {
		return err
	}
	_, err = b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAdd(ctx, k.delayed, goredis.Z{Score: float64(dueMillis(at)), Member: body})
		p.HIncrBy(ctx, k.stats, "retried", 1)
		return nil
	})
	return err
}

// Bury stores the dead letter and trims the store to retention.failed.
func (b *Backend) Bury(ctx context.Context, q string, d queue.DeadLetter) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return bury.Run(ctx, b.client, []string{k.failed, k.failedIdx, k.stats},
		d.ID, rec, d.FailedAt.UnixMicro(), b.qcfg.Retention.Failed).Err()
}

// Ping checks the connection.
func (b *Backend) Ping(ctx context.Context) error { return b.client.Ping(ctx).Err() }

// Close flushes buffered completion records and stops the publisher. It
// closes the client only if Open created it.
func (b *Backend) Close() error {
	err := errors.Join(b.pub.Close(), b.rec.close())
	if b.closeFn != nil {
		err = errors.Join(err, b.closeFn())
	}
	return err
}
