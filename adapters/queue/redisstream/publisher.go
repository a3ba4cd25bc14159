package redisstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
)

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("redisstream: publisher closed")

// PublisherConfig configures a Publisher. The zero value is usable.
type PublisherConfig struct {
	// Marshaller turns messages into entry fields. Default JSONMarshaller.
	Marshaller Marshaller
	// MaxLen, when > 0, adds "MAXLEN ~ MaxLen" to every XADD. It caps a
	// stream whatever its entries' state (Redis does not know which are
	// acked), so it is a safety net; bounded storage in normal operation
	// comes from Trim, which removes only acknowledged entries.
	MaxLen int64
	// BatchSize caps the entries sent in one pipeline. Default 1000. A
	// single Publish call with more messages still goes out in one pipeline.
	BatchSize int
	// FlushInterval is how long a flusher lingers for more callers before
	// sending a batch that is not full. Default 0: send at once; batches
	// still form from the callers that arrive while a pipeline is in flight,
	// so latency stays one round trip at low load and throughput grows with
	// concurrency. (With 0, a lone entry still waits up to coalesceLinger
	// while callers are publishing concurrently: see Publisher.linger.)
	FlushInterval time.Duration
	// Pipelines is the number of pipelines that may be in flight at once
	// (flusher goroutines). Default 2.
	Pipelines int
}

func (c *PublisherConfig) setDefaults() {
	if c.Marshaller == nil {
		c.Marshaller = JSONMarshaller{}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.Pipelines <= 0 {
		c.Pipelines = 2
	}
}

// Publisher appends messages to Redis streams (one stream per topic, key =
// topic) with XADD, batching concurrent callers into pipelines.
//
// Concurrency: Publish is safe for concurrent use; callers that arrive while
// a pipeline is in flight are sent together in the next one. Publish returns
// once Redis has answered for every entry of the call, so a nil error means
// the entries are stored. When an error is returned, some of the call's
// entries may have been stored (the pipeline is not a transaction): callers
// that retry get at-least-once, never at-most-once.
//
// The Redis client is owned by the caller and is NOT closed by Close (stock
// watermill-redisstream closes it, which breaks a shared client).
type Publisher struct {
	cfg    PublisherConfig
	client redis.UniversalClient
	logger watermill.LoggerAdapter

	reqs chan *publishReq
	wg   sync.WaitGroup

	mu     sync.RWMutex // guards closed against concurrent sends on reqs
	closed bool

	// lastBatch is the number of entries in the last pipeline sent (by any
	// flusher): above 1, callers are publishing concurrently (see linger).
	lastBatch atomic.Int64
}

// coalesceLinger bounds how long a flusher holding a lone entry waits for
// more while callers are publishing concurrently (see Publisher.linger).
const coalesceLinger = 50 * time.Microsecond

var _ message.Publisher = (*Publisher)(nil)

type publishReq struct {
	topic string
	// values are the entries' XADD field-value lists. A list rather than
	// the Marshaller's map: go-redis would iterate the map per XADD, and
	// JSONMarshaller's entries skip the map altogether (see jsonValues).
	values [][]any
	done   chan error
}

// NewPublisher starts cfg.Pipelines flusher goroutines; Close stops them.
func NewPublisher(cfg PublisherConfig, client redis.UniversalClient, logger watermill.LoggerAdapter) (*Publisher, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil redis client")
	}
	if cfg.MaxLen < 0 {
		return nil, fmt.Errorf("redisstream: negative MaxLen %d", cfg.MaxLen)
	}
	cfg.setDefaults()
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	p := &Publisher{
		cfg:    cfg,
		client: client,
		logger: logger,
		reqs:   make(chan *publishReq, cfg.BatchSize),
	}
	for range cfg.Pipelines {
		p.wg.Add(1)
		go p.flusher()
	}
	return p, nil
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// Publish appends msgs to the stream named topic, in order, and waits until
// Redis has stored them. Messages are marshalled before anything is sent: a
// marshalling error stores nothing.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	values := make([][]any, len(msgs))
	_, isJSON := p.cfg.Marshaller.(JSONMarshaller)
	for i, msg := range msgs {
		var (
			v   []any
			err error
		)
		if isJSON {
			v, err = jsonValues(msg)
		} else {
			var m map[string]any
			m, err = p.cfg.Marshaller.Marshal(topic, msg)
			v = make([]any, 0, 2*len(m))
			for k, x := range m {
				v = append(v, k, x)
			}
		}
		if err != nil {
			return fmt.Errorf("redisstream: marshal message %s: %w", msg.UUID, err)
		}
		values[i] = v
	}
	return p.publish(topic, values)
}

// Entry is a message with a UUID and a payload and no metadata, the form
// PublishEntries takes.
type Entry struct {
	UUID    string
	Payload []byte
}

// Values returns the entry's XADD field-value list as JSONMarshaller
// stores it.
func (e Entry) Values() []any {
	return []any{UUIDField, e.UUID, PayloadField, e.Payload, MetadataField, ""}
}

// PublishEntries is Publish for messages without metadata: with the
// default JSONMarshaller it stores exactly what Publish stores for
// message.NewMessage(e.UUID, e.Payload), without building the messages
// and their metadata maps (a visible share of a producer's CPU).
func (p *Publisher) PublishEntries(topic string, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if _, ok := p.cfg.Marshaller.(JSONMarshaller); !ok {
		msgs := make([]*message.Message, len(entries))
		for i, e := range entries {
			msgs[i] = message.NewMessage(e.UUID, e.Payload)
		}
		return p.Publish(topic, msgs...)
	}
	values := make([][]any, len(entries))
	flat := make([]any, 6*len(entries)) // one allocation for all lists
	for i, e := range entries {
		v := flat[6*i : 6*i+6 : 6*i+6]
		v[0], v[1], v[2], v[3], v[4], v[5] = UUIDField, e.UUID, PayloadField, e.Payload, MetadataField, ""
		values[i] = v
	}
	return p.publish(topic, values)
}

func (p *Publisher) publish(topic string, values [][]any) error {
	req := &publishReq{topic: topic, values: values, done: donePool.Get().(chan error)}

	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		donePool.Put(req.done)
		return ErrPublisherClosed
	}
	p.reqs <- req
	p.mu.RUnlock()

	err := <-req.done
	donePool.Put(req.done)
	return err
}

// Close stops accepting messages, sends what was already accepted and waits
// for it. It does not close the Redis client. Idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.reqs)
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Publisher) flusher() {
	defer p.wg.Done()
	var (
		batch []*publishReq
		timer *time.Timer
	)
	for {
		first, ok := <-p.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		n := len(first.values)
		open := true
		if p.cfg.FlushInterval > 0 && n < p.cfg.BatchSize {
			if timer == nil {
				timer = time.NewTimer(p.cfg.FlushInterval)
			} else {
				timer.Reset(p.cfg.FlushInterval)
			}
		linger:
			for n < p.cfg.BatchSize {
				select {
				case r, ok := <-p.reqs:
					if !ok {
						open = false
						break linger
					}
					batch = append(batch, r)
					n += len(r.values)
				case <-timer.C:
					break linger
				}
			}
			timer.Stop()
		} else {
		drain:
			for n < p.cfg.BatchSize {
				select {
				case r, ok := <-p.reqs:
					if !ok {
						open = false
						break drain
					}
					batch = append(batch, r)
					n += len(r.values)
				default:
					break drain
				}
			}
			if n == 1 && open && p.lastBatch.Load() > 1 {
				if timer == nil {
					timer = time.NewTimer(coalesceLinger)
				}
				batch, n, open = p.linger(batch, n, timer)
			}
		}
		p.lastBatch.Store(int64(n))
		p.send(batch, n)
		clear(batch)
		if !open {
			return
		}
	}
}

// linger waits up to coalesceLinger for more requests, until the batch
// holds half as many entries as the last one sent (at least 2). It is
// called only for a lone entry while the last pipeline held several, i.e.
// while callers publish concurrently: under that load a lone entry that
// costs a round trip of its own was measured at ~9 % of the batches (a
// flusher woke for each of the first callers that a finished pipeline
// released), each about ten times the CPU of an entry in a pipeline. One
// caller publishing at a time never waits, so its latency stays one round
// trip. It blocks on a timer rather than spinning with runtime.Gosched: a
// spinning flusher, measured under the race detector on a saturated
// machine, delayed other goroutines of the process (a delayed job ran
// 1.2 s late instead of ~0.35 s).
func (p *Publisher) linger(batch []*publishReq, n int, timer *time.Timer) ([]*publishReq, int, bool) {
	target := max(2, min(int(p.lastBatch.Load()/2), p.cfg.BatchSize))
	timer.Reset(coalesceLinger)
	defer timer.Stop()
	for n < target {
		select {
		case r, ok := <-p.reqs:
			if !ok {
				return batch, n, false
			}
			batch = append(batch, r)
			n += len(r.values)
		case <-timer.C:
			return batch, n, true
		}
	}
	return batch, n, true
}

// send writes one pipeline and reports each request's first error to it.
func (p *Publisher) send(batch []*publishReq, n int) {
	ctx := context.Background()
	approx := p.cfg.MaxLen > 0
	if n == 1 {
		r := batch[0]
		r.done <- p.client.XAdd(ctx, &redis.XAddArgs{
			Stream: r.topic, MaxLen: p.cfg.MaxLen, Approx: approx, Values: r.values[0],
		}).Err()
		return
	}
	pipe := p.client.Pipeline()
	cmds := make([]*redis.StringCmd, 0, n)
	for _, r := range batch {
		for _, v := range r.values {
			cmds = append(cmds, pipe.XAdd(ctx, &redis.XAddArgs{
				Stream: r.topic, MaxLen: p.cfg.MaxLen, Approx: approx, Values: v,
			}))
		}
	}
	_, _ = pipe.Exec(ctx) // per-command errors are read below
	i := 0
	for _, r := range batch {
		var err error
		for range r.values {
			if e := cmds[i].Err(); e != nil && err == nil {
				err = e
			}
			i++
		}
		if err != nil {
			p.logger.Error("XADD failed", err, watermill.LogFields{"topic": r.topic, "entries": len(r.values)})
			err = fmt.Errorf("redisstream: xadd to %s: %w", r.topic, err)
		}
		r.done <- err
	}
}
