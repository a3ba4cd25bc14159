package redisstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
)

// Defaults of SubscriberConfig.
const (
	DefaultBatchSize        = 100
	DefaultInFlight         = 10
	DefaultBlockTime        = 200 * time.Millisecond
	DefaultClaimInterval    = time.Second
	DefaultMinIdleTime      = 10 * time.Second
	DefaultAckFlushInterval = 20 * time.Millisecond
	DefaultCloseTimeout     = 10 * time.Second
)

// ErrSubscriberClosed is returned by Subscribe after Close.
var ErrSubscriberClosed = errors.New("redisstream: subscriber closed")

// DeadLetterFunc receives a stream entry that the Marshaller could not
// decode: the topic, the entry id, its raw fields and the decoding error.
// When it returns nil the entry is acknowledged; when it returns an error the
// entry stays pending and is offered again after MinIdleTime (XAUTOCLAIM), so
// a dead-letter store that is briefly down loses nothing. It is called from
// the subscription's dispatch goroutine: while it runs, no other message of
// that subscription is dispatched, so keep it to one store write.
type DeadLetterFunc func(ctx context.Context, topic, id string, fields map[string]any, err error) error

// SubscriberConfig configures a Subscriber. ConsumerGroup and Consumer are
// required; every other zero value takes the default above.
type SubscriberConfig struct {
	// ConsumerGroup is the Redis consumer group shared by all workers of a
	// queue. It is created (MKSTREAM, from StartID) when missing.
	ConsumerGroup string
	// Consumer is this worker's name inside the group. Keep it stable across
	// restarts (e.g. the pod or host name): a consumer re-reads its own
	// pending entries first when it starts, so a restarted worker resumes
	// the jobs it held at once instead of after MinIdleTime. Two live
	// processes must not share a name. A second concurrent Subscribe to the
	// same topic on one Subscriber uses Consumer+"-2", and so on.
	Consumer string
	// BatchSize is the XREADGROUP / XAUTOCLAIM COUNT, the read-ahead buffer
	// and the number of acks that forces a flush. Default 100.
	BatchSize int
	// InFlight is how many messages of one subscription may be delivered
	// and not yet acked or nacked at once. Default 10.
	InFlight int
	// BlockTime is the XREADGROUP BLOCK. New entries wake the reader at
	// once; BlockTime only bounds how long Close waits for the reader.
	// Default 200ms.
	BlockTime time.Duration
	// ClaimInterval is how often XAUTOCLAIM looks for entries left pending
	// by dead consumers. Default 1s.
	ClaimInterval time.Duration
	// MinIdleTime is how long an entry must sit unacknowledged before
	// another consumer may take it over. Live consumers renew their entries
	// (XCLAIM JUSTID every MinIdleTime/3), so a long-running handler is not
	// stolen; a consumer that died loses its entries after MinIdleTime +
	// ClaimInterval at most. Default 10s.
	MinIdleTime time.Duration
	// AckFlushInterval is how long an ack may wait to be coalesced with
	// others into one XACK. Acks are flushed sooner when BatchSize of them
	// are waiting or when nothing read is outstanding. Default 20ms.
	AckFlushInterval time.Duration
	// CloseTimeout bounds how long Close (or the cancellation of the
	// Subscribe context) waits for delivered messages to be acked or nacked.
	// Default 10s, inside fx's default 15s stop budget.
	CloseTimeout time.Duration
	// StartID is where a newly created group starts: "0" (default) takes
	// every entry already in the stream, "$" only new ones.
	StartID string
	// Marshaller decodes entries. Default JSONMarshaller.
	Marshaller Marshaller
	// DeadLetter receives entries that cannot be decoded. Nil: they are
	// logged at error level and acknowledged (dropped).
	DeadLetter DeadLetterFunc
}

func (c *SubscriberConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.InFlight <= 0 {
		c.InFlight = DefaultInFlight
	}
	if c.BlockTime <= 0 {
		c.BlockTime = DefaultBlockTime
	}
	if c.ClaimInterval <= 0 {
		c.ClaimInterval = DefaultClaimInterval
	}
	if c.MinIdleTime <= 0 {
		c.MinIdleTime = DefaultMinIdleTime
	}
	if c.AckFlushInterval <= 0 {
		c.AckFlushInterval = DefaultAckFlushInterval
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.StartID == "" {
		c.StartID = "0"
	}
	if c.Marshaller == nil {
		c.Marshaller = JSONMarshaller{}
	}
}

// Subscriber reads Redis streams through a consumer group.
//
// Each Subscribe starts one subscription: a reader (XREADGROUP COUNT
// BatchSize, first over the consumer's own pending entries, then new ones), a
// claimer (XAUTOCLAIM every ClaimInterval), a lease renewer, a dispatcher
// that sends messages on the returned channel in stream order, and InFlight
// waiters for their ack or nack. Acks are coalesced into multi-id XACKs.
// A nacked message is sent again at once, ahead of new entries, and holds no
// slot while it waits, so it never blocks the other InFlight messages.
//
// Delivery is at-least-once. Redis errors (including a restart that lost the
// group: NOGROUP) are logged and retried with backoff; they never end a
// subscription. An entry that cannot be decoded goes to DeadLetter.
//
// Subscribe and Close are safe for concurrent use. Close does not close the
// Redis client, which the caller owns.
type Subscriber struct {
	cfg    SubscriberConfig
	client redis.UniversalClient
	logger watermill.LoggerAdapter

	closing chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	active map[string]map[string]bool // topic -> consumer names in use
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber validates cfg; it starts nothing until Subscribe.
func NewSubscriber(cfg SubscriberConfig, client redis.UniversalClient, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil redis client")
	}
	if cfg.ConsumerGroup == "" {
		return nil, errors.New("redisstream: ConsumerGroup is required")
	}
	if cfg.Consumer == "" {
		return nil, errors.New("redisstream: Consumer is required (a stable name, e.g. the host name)")
	}
	cfg.setDefaults()
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &Subscriber{
		cfg:     cfg,
		client:  client,
		logger:  logger,
		closing: make(chan struct{}),
		active:  make(map[string]map[string]bool),
	}, nil
}

// SubscribeInitialize creates the topic's stream and consumer group if
// missing (message.SubscribeInitializer).
func (s *Subscriber) SubscribeInitialize(topic string) error {
	return ensureGroup(context.Background(), s.client, topic, s.cfg.ConsumerGroup, s.cfg.StartID)
}

// Subscribe creates the group if needed and starts consuming topic. The
// channel is closed after ctx is cancelled or Close is called, once the
// delivered messages are acked or nacked (or CloseTimeout passed) and the
// pending acks are flushed. Entries read but not acked stay pending for this
// consumer's next start. It fails only when Redis refuses to create the group (a server that cannot be reached is retried by the reader).
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSubscriberClosed
	}
	consumer := s.acquireConsumer(topic)
	s.wg.Add(1)
	s.mu.Unlock()

	if err := ensureGroup(ctx, s.client, topic, s.cfg.ConsumerGroup, s.cfg.StartID); err != nil {
		if ctx.Err() != nil || !unavailable(err) {
			s.releaseConsumer(topic, consumer)
			s.wg.Done()
			return nil, err
		}
		// Redis is not reachable yet: subscribe anyway. The reader retries
		// with backoff and recreates the group on NOGROUP once Redis
		// answers, so a worker may start before its Redis.
		s.logger.Error("Consumer group not created yet, Redis unreachable; will retry", err,
			watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup})
	}
	sub := newSubscription(ctx, s, topic, consumer)
	s.logger.Debug("Subscribed", sub.fields)
	return sub.out, nil
}

// Close stops every subscription as described in Subscribe and waits for
// them. Idempotent; a second call returns at once.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Trim removes the topic's entries that every consumer group has
// acknowledged (see TrimAcked).
func (s *Subscriber) Trim(ctx context.Context, topic string) (int64, error) {
	return TrimAcked(ctx, s.client, topic)
}

func (s *Subscriber) acquireConsumer(topic string) string {
	used := s.active[topic]
	if used == nil {
		used = make(map[string]bool)
		s.active[topic] = used
	}
	name := s.cfg.Consumer
	for i := 2; used[name]; i++ {
		name = s.cfg.Consumer + "-" + strconv.Itoa(i)
	}
	used[name] = true
	return name
}

func (s *Subscriber) releaseConsumer(topic, consumer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active[topic], consumer)
	if len(s.active[topic]) == 0 {
		delete(s.active, topic)
	}
}

func ensureGroup(ctx context.Context, c redis.UniversalClient, topic, group, start string) error {
	err := c.XGroupCreateMkStream(ctx, topic, group, start).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redisstream: create group %s on %s: %w", group, topic, err)
	}
	return nil
}

// unavailable reports whether err means the server could not be reached
// (as opposed to a command Redis refused).
func unavailable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// delivery is one decoded entry on its way to, or held by, the consumer.
type delivery struct {
	id     string
	msg    *message.Message
	cancel context.CancelFunc
}

type subscription struct {
	s        *Subscriber
	cfg      *SubscriberConfig
	client   redis.UniversalClient
	topic    string
	consumer string
	fields   watermill.LogFields

	out       chan *message.Message
	entries   chan redis.XMessage // read-ahead, read by the dispatcher
	redeliver chan *delivery      // nacked messages, sent before new entries
	slots     chan struct{}       // one token per delivered, unsettled message
	handoff   chan *delivery      // dispatcher -> waiters

	readCtx  context.Context // cancelled when the subscription starts stopping
	stopRead context.CancelFunc
	msgCtx   context.Context // parent of message contexts; cancelled by hardStop
	stopMsgs context.CancelFunc
	hard     chan struct{} // closed CloseTimeout after stopping began
	hardOnce sync.Once

	readWG sync.WaitGroup // reader, claimer, dispatcher
	waitWG sync.WaitGroup // waiters

	mu    sync.Mutex
	owned map[string]struct{} // read and not yet settled: renewed, deduplicated
	// acking holds ids settled by the handler whose XACK has not reached
	// Redis yet. They are still pending there, so a claim or a re-read of
	// our own pending entries can return them: they must not be delivered
	// again.
	acking   map[string]struct{}
	acks     []string
	unpushed []string // read but never handed to the dispatcher (stopping)

	ackArm  chan struct{} // first ack waiting: start the flush timer
	ackNow  chan struct{} // flush at once
	ackStop chan struct{}
	ackDone chan struct{}
}

func newSubscription(ctx context.Context, s *Subscriber, topic, consumer string) *subscription {
	cfg := &s.cfg
	sub := &subscription{
		s:         s,
		cfg:       cfg,
		client:    s.client,
		topic:     topic,
		consumer:  consumer,
		fields:    watermill.LogFields{"topic": topic, "consumer_group": cfg.ConsumerGroup, "consumer": consumer},
		out:       make(chan *message.Message),
		entries:   make(chan redis.XMessage, cfg.BatchSize),
		redeliver: make(chan *delivery, cfg.InFlight),
		slots:     make(chan struct{}, cfg.InFlight),
		handoff:   make(chan *delivery, cfg.InFlight),
		hard:      make(chan struct{}),
		owned:     make(map[string]struct{}),
		acking:    make(map[string]struct{}),
		ackArm:    make(chan struct{}, 1),
		ackNow:    make(chan struct{}, 1),
		ackStop:   make(chan struct{}),
		ackDone:   make(chan struct{}),
	}
	sub.readCtx, sub.stopRead = context.WithCancel(ctx)
	sub.msgCtx, sub.stopMsgs = context.WithCancel(ctx)

	sub.readWG.Add(3)
	go sub.read()
	go sub.claim()
	go sub.dispatch()
	sub.waitWG.Add(cfg.InFlight)
	for range cfg.InFlight {
		go sub.wait()
	}
	go sub.ackLoop()
	renewDone := make(chan struct{})
	go sub.renew(renewDone)
	go sub.supervise(ctx, renewDone)
	return sub
}

// supervise runs the shutdown sequence: stop reading, let delivered
// messages settle (bounded by CloseTimeout), flush acks, close the channel.
func (sub *subscription) supervise(ctx context.Context, renewDone <-chan struct{}) {
	select {
	case <-sub.s.closing:
	case <-ctx.Done():
	}
	sub.stopRead()
	hardTimer := time.AfterFunc(sub.cfg.CloseTimeout, sub.hardStop)
	sub.readWG.Wait()
	close(sub.handoff)
	sub.waitWG.Wait()
	hardTimer.Stop()
	sub.hardStop()

	close(sub.ackStop)
	<-sub.ackDone
	<-renewDone
	sub.releaseUndelivered()

	sub.s.releaseConsumer(sub.topic, sub.consumer)
	close(sub.out)
	sub.s.logger.Debug("Subscription closed", sub.fields)
	sub.s.wg.Done()
}

// hardStop gives up on unsettled messages: their contexts (and a running
// DeadLetter call's) are cancelled and the entries stay pending.
func (sub *subscription) hardStop() {
	sub.hardOnce.Do(func() {
		close(sub.hard)
		sub.stopMsgs()
	})
}

// releaseUndelivered makes the entries that were read ahead but never
// delivered claimable at once by other consumers (XCLAIM ... IDLE), instead
// of after MinIdleTime. They stay in this consumer's pending list, so a
// restart with the same name re-reads them at once too.
func (sub *subscription) releaseUndelivered() {
	var ids []any
	sub.mu.Lock()
	for _, id := range sub.unpushed {
		ids = append(ids, id)
	}
	sub.mu.Unlock()
	for {
		select {
		case xm := <-sub.entries:
			ids = append(ids, xm.ID)
			continue
		case d := <-sub.redeliver:
			ids = append(ids, d.id)
			continue
		default:
		}
		break
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	args := []any{"xclaim", sub.topic, sub.cfg.ConsumerGroup, sub.consumer, 0}
	args = append(args, ids...)
	args = append(args, "idle", sub.cfg.MinIdleTime.Milliseconds(), "justid")
	if err := sub.client.Do(ctx, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		sub.s.logger.Info("Could not release read-ahead entries; they are taken over after MinIdleTime", sub.fields.Add(watermill.LogFields{"err": err, "entries": len(ids)}))
	}
}

// disown stops renewing an entry without acking it: it stays pending.
func (sub *subscription) disown(id string) {
	sub.mu.Lock()
	delete(sub.owned, id)
	sub.mu.Unlock()
}

// pushBatch records a read or claimed batch as owned — all of it before the
// first entry is dispatched, so "nothing outstanding" (which flushes acks at
// once) is not seen in the middle of a batch — and hands the new entries to
// the dispatcher. Entries deleted while pending are acked. It returns false
// when the subscription is stopping.
func (sub *subscription) pushBatch(msgs []redis.XMessage) bool {
	fresh := msgs[:0:0]
	var gone []string
	sub.mu.Lock()
	for _, xm := range msgs {
		if xm.Values == nil { // deleted (trimmed) while pending: nothing to deliver
			gone = append(gone, xm.ID)
			continue
		}
		if _, ok := sub.owned[xm.ID]; ok {
			continue // already read ahead or in flight (XAUTOCLAIM of our own)
		}
		if _, ok := sub.acking[xm.ID]; ok {
			continue // done; its XACK is on the way
		}
		sub.owned[xm.ID] = struct{}{}
		fresh = append(fresh, xm)
	}
	sub.mu.Unlock()
	for _, id := range gone {
		sub.ack(id)
	}
	for i, xm := range fresh {
		select {
		case sub.entries <- xm:
		case <-sub.readCtx.Done():
			sub.mu.Lock()
			for _, rest := range fresh[i:] {
				sub.unpushed = append(sub.unpushed, rest.ID)
			}
			sub.mu.Unlock()
			return false
		}
	}
	return true
}

func (sub *subscription) read() {
	defer sub.readWG.Done()
	pendingFrom := "0" // own pending entries first
	var backoff time.Duration
	for sub.readCtx.Err() == nil {
		id, block := ">", sub.cfg.BlockTime
		if pendingFrom != "" {
			id, block = pendingFrom, -1
		}
		res, err := sub.client.XReadGroup(sub.readCtx, &redis.XReadGroupArgs{
			Group:    sub.cfg.ConsumerGroup,
			Consumer: sub.consumer,
			Streams:  []string{sub.topic, id},
			Count:    int64(sub.cfg.BatchSize),
			Block:    block,
		}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) {
				continue // BLOCK timed out
			}
			if sub.readCtx.Err() != nil {
				return
			}
			if isNoGroup(err) {
				// Stream or group gone (Redis restarted without persistence,
				// or the key was deleted): recreate and start over.
				sub.s.logger.Info("Consumer group missing, recreating it", sub.fields)
				if err = ensureGroup(sub.readCtx, sub.client, sub.topic, sub.cfg.ConsumerGroup, sub.cfg.StartID); err == nil {
					pendingFrom = "0"
					continue
				}
			}
			backoff = nextBackoff(backoff)
			sub.s.logger.Error("XREADGROUP failed, retrying", err, sub.fields.Add(watermill.LogFields{"backoff": backoff}))
			if !sleepCtx(sub.readCtx, backoff) {
				return
			}
			continue
		}
		backoff = 0
		var msgs []redis.XMessage
		if len(res) > 0 {
			msgs = res[0].Messages
		}
		if pendingFrom != "" {
			if len(msgs) == 0 {
				pendingFrom = ""
				continue
			}
			pendingFrom = msgs[len(msgs)-1].ID
		}
		if !sub.pushBatch(msgs) {
			return
		}
	}
}

func (sub *subscription) claim() {
	defer sub.readWG.Done()
	t := time.NewTicker(sub.cfg.ClaimInterval)
	defer t.Stop()
	for {
		if !sub.claimOnce() {
			return
		}
		select {
		case <-t.C:
		case <-sub.readCtx.Done():
			return
		}
	}
}

// claimOnce takes over entries idle for MinIdleTime, whoever holds them
// (a dead consumer, or this one after a dead-letter failure). It returns
// false when the subscription is stopping.
func (sub *subscription) claimOnce() bool {
	cursor := "0-0"
	for range 100 { // bounded sweep; the next tick continues
		msgs, next, err := sub.client.XAutoClaim(sub.readCtx, &redis.XAutoClaimArgs{
			Stream:   sub.topic,
			Group:    sub.cfg.ConsumerGroup,
			Consumer: sub.consumer,
			MinIdle:  sub.cfg.MinIdleTime,
			Start:    cursor,
			Count:    int64(sub.cfg.BatchSize),
		}).Result()
		if err != nil {
			if sub.readCtx.Err() != nil {
				return false
			}
			if !isNoGroup(err) { // NOGROUP: the reader recreates the group
				sub.s.logger.Error("XAUTOCLAIM failed", err, sub.fields)
			}
			return true
		}
		if len(msgs) > 0 {
			sub.s.logger.Debug("Claimed idle entries", sub.fields.Add(watermill.LogFields{"entries": len(msgs)}))
		}
		if !sub.pushBatch(msgs) {
			return false
		}
		if next == "" || next == "0-0" {
			return true
		}
		cursor = next
	}
	return true
}

// renew resets the idle time of every entry this subscription holds, so
// other consumers' XAUTOCLAIM never takes a live consumer's work.
func (sub *subscription) renew(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(sub.cfg.MinIdleTime / 3)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-sub.msgCtx.Done():
			return
		}
		sub.mu.Lock()
		ids := make([]string, 0, len(sub.owned))
		for id := range sub.owned {
			ids = append(ids, id)
		}
		sub.mu.Unlock()
		for len(ids) > 0 {
			n := min(len(ids), 1000)
			err := sub.client.XClaimJustID(sub.msgCtx, &redis.XClaimArgs{
				Stream: sub.topic, Group: sub.cfg.ConsumerGroup, Consumer: sub.consumer, Messages: ids[:n],
			}).Err()
			if err != nil && !errors.Is(err, redis.Nil) && sub.msgCtx.Err() == nil {
				sub.s.logger.Error("Renewing pending entries failed", err, sub.fields)
				break
			}
			ids = ids[n:]
		}
	}
}

func (sub *subscription) dispatch() {
	defer sub.readWG.Done()
	for {
		select {
		case sub.slots <- struct{}{}:
		case <-sub.readCtx.Done():
			return
		}
		var d *delivery
		select {
		case d = <-sub.redeliver:
		default:
			select {
			case d = <-sub.redeliver:
			case xm := <-sub.entries:
				d = sub.decode(xm)
			case <-sub.readCtx.Done():
				<-sub.slots
				return
			}
		}
		if d == nil {
			<-sub.slots
			continue
		}
		ctx, cancel := context.WithCancel(sub.msgCtx)
		d.msg.SetContext(ctx)
		d.cancel = cancel
		select {
		case sub.out <- d.msg:
			sub.handoff <- d // never blocks: at most InFlight deliveries exist
		case <-sub.readCtx.Done():
			cancel()
			// Not delivered: keep it for releaseUndelivered.
			select {
			case sub.redeliver <- &delivery{id: d.id}:
			default:
			}
			<-sub.slots
			return
		}
	}
}

// decode turns an entry into a delivery, or dead-letters it (nil).
func (sub *subscription) decode(xm redis.XMessage) *delivery {
	msg, err := sub.cfg.Marshaller.Unmarshal(xm.Values)
	if err == nil {
		return &delivery{id: xm.ID, msg: msg}
	}
	fields := sub.fields.Add(watermill.LogFields{"entry_id": xm.ID})
	if sub.cfg.DeadLetter == nil {
		sub.s.logger.Error("Undecodable entry dropped (no DeadLetter configured)", err, fields)
		sub.ack(xm.ID)
		return nil
	}
	if dlErr := sub.cfg.DeadLetter(sub.msgCtx, sub.topic, xm.ID, xm.Values, err); dlErr != nil {
		sub.s.logger.Error("Dead-lettering an undecodable entry failed; it stays pending and is retried after MinIdleTime", dlErr, fields)
		sub.disown(xm.ID)
		return nil
	}
	sub.s.logger.Info("Undecodable entry dead-lettered", fields.Add(watermill.LogFields{"err": err}))
	sub.ack(xm.ID)
	return nil
}

// wait settles delivered messages: ack -> coalesced XACK; nack -> sent again
// ahead of new entries (or, while stopping, left pending for a restart).
func (sub *subscription) wait() {
	defer sub.waitWG.Done()
	for d := range sub.handoff {
		select {
		case <-d.msg.Acked():
			d.cancel()
			sub.ack(d.id)
		case <-d.msg.Nacked():
			d.cancel()
			if sub.readCtx.Err() != nil {
				sub.disown(d.id)
				break
			}
			select {
			case sub.redeliver <- &delivery{id: d.id, msg: d.msg.Copy()}:
			default: // cannot happen (capacity InFlight); stays pending
				sub.disown(d.id)
			}
		case <-sub.hard:
			d.cancel()
			sub.disown(d.id)
		}
		<-sub.slots
	}
}

func (sub *subscription) ack(id string) {
	sub.mu.Lock()
	delete(sub.owned, id)
	sub.acking[id] = struct{}{}
	sub.acks = append(sub.acks, id)
	first := len(sub.acks) == 1
	now := len(sub.acks) >= sub.cfg.BatchSize || len(sub.owned) == 0
	sub.mu.Unlock()
	if now {
		signal(sub.ackNow)
	} else if first {
		signal(sub.ackArm)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (sub *subscription) ackLoop() {
	defer close(sub.ackDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	ctx := context.WithoutCancel(sub.msgCtx)
	var backoff time.Duration // after a failed XACK
	for {
		select {
		case <-sub.ackArm:
			delay := sub.cfg.AckFlushInterval
			if backoff > 0 {
				delay = backoff
			}
			timer.Reset(delay)
			select {
			case <-timer.C:
			case <-sub.ackNow:
				timer.Stop()
			case <-sub.ackStop:
				timer.Stop()
				sub.finalFlush()
				return
			}
		case <-sub.ackNow:
		case <-sub.ackStop:
			sub.finalFlush()
			return
		}
		if sub.flushAcks(ctx) != nil {
			backoff = nextBackoff(backoff)
		} else {
			backoff = 0
		}
	}
}

func (sub *subscription) finalFlush() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(sub.msgCtx), 5*time.Second)
	defer cancel()
	for attempt := 0; attempt < 3 && sub.flushAcks(ctx) != nil; attempt++ {
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// flushAcks sends every waiting ack in one XACK. On failure the ids are
// kept for the next flush, except after NOGROUP (the entries are gone).
func (sub *subscription) flushAcks(ctx context.Context) error {
	sub.mu.Lock()
	ids := sub.acks
	sub.acks = nil
	sub.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	err := sub.client.XAck(ctx, sub.topic, sub.cfg.ConsumerGroup, ids...).Err()
	if err == nil || isNoGroup(err) {
		sub.mu.Lock()
		for _, id := range ids {
			delete(sub.acking, id)
		}
		sub.mu.Unlock()
		return nil
	}
	sub.s.logger.Error("XACK failed, will retry", err, sub.fields.Add(watermill.LogFields{"ids": len(ids)}))
	sub.mu.Lock()
	sub.acks = append(ids, sub.acks...)
	sub.mu.Unlock()
	signal(sub.ackArm)
	return err
}

func nextBackoff(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return 50 * time.Millisecond
	case d >= time.Second:
		return time.Second
	default:
		return min(2*d, time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
