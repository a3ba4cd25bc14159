package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Worker runs the handlers of every queue that has some on a Watermill
// Router: per queue one Router handler fed by a Subscriber (the transport
// over the backend's Consumer), with the engine's middleware deciding each
// delivery's outcome (retry with backoff, dead letter, cancel) and the
// transport settling it. It also runs the backend's background work.
//
// Start and Stop are called once each, from one goroutine (fx lifecycle).
type Worker struct {
	cfg      Config
	backend  Consumer
	dispatch map[string]*dispatch
	logger   *slog.Logger
	metrics  *Metrics
	consumer string

	abort   context.Context // cancelled when shutdown_timeout runs out
	abortFn context.CancelFunc

	router   *message.Router
	subs     []*Subscriber
	batchers map[*Handler]*batcher
	stopping atomic.Bool
	runners  []*runners
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// NewWorker checks the handlers against cfg (unknown queue, duplicate
// names) and returns a Worker that is not started. metrics may be nil.
func NewWorker(cfg Config, backend Consumer, handlers []Handler, logger *slog.Logger, metrics *Metrics) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue: config: %w", err)
	}
	d, err := buildDispatch(cfg, handlers)
	if err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics, _ = NewMetrics(nil)
	}
	prefix := ""
	if p, ok := backend.(interface{ ConsumerPrefix() string }); ok {
		prefix = p.ConsumerPrefix()
	}
	w := &Worker{cfg: cfg, backend: backend, dispatch: d, logger: logger, metrics: metrics, consumer: ConsumerName(prefix),
		batchers: map[*Handler]*batcher{}}
	for _, disp := range d {
		for _, h := range disp.handlers() {
			if h.Batch != nil {
				w.batchers[h] = newBatcher(w, h)
			}
		}
	}
	w.abort, w.abortFn = context.WithCancel(context.Background())
	return w, nil
}

// batchRoom is how many jobs the queue's batches can hold without a slot
// when every handler of the queue is a batch handler, else 0: a job
// claimed beyond the free slots must never be one that runs alone (it
// would run past queue.concurrency).
func batchRoom(d *dispatch) int {
	room := 0
	for _, h := range d.handlers() {
		if h.Batch == nil {
			return 0
		}
		room += parkLimit(h.Batch)
	}
	return room
}

// ConsumerName returns a name unique to this process: prefix (the host
// name when empty), the process id and a random suffix. Two processes on
// one host never share it; a restarted process gets a new one.
func ConsumerName(prefix string) string {
	if prefix == "" {
		prefix, _ = os.Hostname()
		if prefix == "" {
			prefix = "worker"
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), hex.EncodeToString(b[:]))
}

// SetConsumerName overrides the generated consumer name (before Start).
func (w *Worker) SetConsumerName(name string) { w.consumer = name }

// Consumer is the name this worker claims jobs under.
func (w *Worker) Consumer() string { return w.consumer }

// Start subscribes every queue that has handlers and returns once the
// Router runs. The worker keeps running after ctx ends; Stop ends it.
func (w *Worker) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	if m, ok := w.backend.(Maintainer); ok {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			if err := m.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				w.logger.Error("queue background work stopped", "error", err)
			}
		}()
	}
	if len(w.dispatch) == 0 {
		w.logger.Info("queue worker started without handlers")
		return nil
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: w.cfg.ShutdownTimeout + 2*time.Second},
		newRouterLogger(w.logger))
	if err != nil {
		cancel()
		return err
	}
	for q, d := range w.dispatch {
		sub := NewSubscriber(w.backend, q, w.consumer, w.cfg.Concurrency, w.cfg,
			w.cfg.ShutdownTimeout+500*time.Millisecond, w.logger)
		sub.ahead = batchRoom(d)
		w.subs = append(w.subs, sub)
		mw := []message.HandlerMiddleware{ackMiddleware, w.outcomeMiddleware(q)}
		// A queue whose handlers all take batches runs no handler code in
		// a job's call: the call hands the job to its batch and waits, so
		// runners would only add two hand-offs, and a spare goroutine for
		// each job parked past the slots.
		if sub.ahead == 0 {
			rn := newRunners(w.cfg.Concurrency)
			w.runners = append(w.runners, rn)
			mw = append(mw, rn.middleware)
		}
		h := router.AddConsumerHandler("queue."+q, q, sub, w.final(d))
		h.AddMiddleware(append(mw, w.recoverMiddleware, w.contextMiddleware)...)
	}
	w.router = router
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := router.Run(runCtx); err != nil {
			w.logger.Error("queue router stopped", "error", err)
		}
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		return ctx.Err()
	}
	w.logger.Info("queue worker started", "queues", len(w.subs), "concurrency", w.cfg.Concurrency, "consumer", w.consumer)
	return nil
}

// Stop takes no new jobs, lets running ones finish within
// queue.shutdown_timeout, then cancels their contexts (an attempt cut
// short this way is released back to waiting, not counted), settles every
// delivery and stops background work.
func (w *Worker) Stop(ctx context.Context) error {
	if w.cancel == nil {
		return nil
	}
	abortTimer := time.AfterFunc(w.cfg.ShutdownTimeout, w.abortFn)
	defer abortTimer.Stop()
	// Batches still filling run now: their jobs are claimed already.
	w.stopping.Store(true)
	for _, b := range w.batchers {
		b.flushNow()
	}
	var err error
	if w.router != nil {
		err = w.router.Close()
		// The Router closes its subscribers without waiting for them; wait
		// here, so every delivery is settled when Stop returns.
		for _, s := range w.subs {
			err = errors.Join(err, s.Close())
		}
	}
	w.closeRunners()
	w.cancel()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.abortFn()
		return ctx.Err()
	}
	w.abortFn()
	w.logger.Info("queue worker stopped")
	return err
}

func (w *Worker) closeRunners() {
	for _, r := range w.runners {
		r.close()
	}
}

func (w *Worker) final(d *dispatch) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ctx := msg.Context()
		job := deliveryFrom(ctx).job
		h := d.handler(job.Name)
		if h == nil {
			return fmt.Errorf("%w %q", ErrNoHandler, job.Name)
		}
		if b := w.batchers[h]; b != nil {
			return b.submit(deliveryFrom(ctx))
		}
		return h.Handle(ctx, job)
	}
}

// ackMiddleware is outermost: it acks the message once the chain has put
// the outcome on it, so the transport settles it and frees its slot. It
// never returns an error: every outcome, failures included, is an ack.
func ackMiddleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, _ := next(msg)
		msg.Ack()
		return out, nil
	}
}
