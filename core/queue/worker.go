package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Consumer is the part of a Backend the Worker needs.
type Consumer interface {
	Topic(queue string, p Priority) string
	Subscriber(queue string, inFlight int) (message.Subscriber, error)
	Complete(ctx context.Context, job *Job) error
	Reschedule(ctx context.Context, job *Job, body []byte, at time.Time) error
	Bury(ctx context.Context, queue string, d DeadLetter) error
	Paused(ctx context.Context, queue string) (bool, error)
	Run(ctx context.Context) error
}

// Worker runs the handlers of every queue that has some on a Watermill
// Router: per queue one handler, fed by a gate that merges the priority
// topics, caps running jobs at queue.concurrency and honours pause. It also
// runs the backend's background work (delayed promotion, trimming).
//
// Start and Stop are called once each, from one goroutine (fx lifecycle).
type Worker struct {
	cfg      Config
	backend  Consumer
	dispatch map[string]*dispatch
	logger   *slog.Logger
	metrics  *Metrics

	abort   context.Context // cancelled when shutdown_timeout runs out
	abortFn context.CancelFunc

	router  *message.Router
	gates   map[string]*gate
	runners []*runners
	cancel  context.CancelFunc
	wg      sync.WaitGroup
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
	w := &Worker{cfg: cfg, backend: backend, dispatch: d, logger: logger, metrics: metrics, gates: map[string]*gate{}}
	w.abort, w.abortFn = context.WithCancel(context.Background())
	return w, nil
}

// Start subscribes every queue that has handlers and returns once the
// Router runs. The worker keeps running after ctx ends; Stop ends it.
func (w *Worker) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := w.backend.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			w.logger.Error("queue background work stopped", "error", err)
		}
	}()
	if len(w.dispatch) == 0 {
		w.logger.Info("queue worker started without handlers")
		return nil
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: w.cfg.ShutdownTimeout + time.Second},
		newRouterLogger(w.logger))
	if err != nil {
		cancel()
		return err
	}
	for q, d := range w.dispatch {
		// Twice the concurrency in flight keeps the gate's buffers primed
		// (see gate.Subscribe) while every slot is busy.
		sub, err := w.backend.Subscriber(q, 2*w.cfg.Concurrency)
		if err != nil {
			cancel()
			w.closeRunners()
			return fmt.Errorf("queue: subscriber for %s: %w", q, err)
		}
		topics := make([]string, len(Priorities))
		for i, p := range Priorities {
			topics[i] = w.backend.Topic(q, p)
		}
		g := newGate(sub, topics, w.cfg.Concurrency, w.cfg.ShutdownTimeout)
		w.gates[q] = g
		rn := newRunners(w.cfg.Concurrency)
		w.runners = append(w.runners, rn)
		h := router.AddConsumerHandler("queue."+q, q, g, w.final(d))
		h.AddMiddleware(slotMiddleware(g), w.decodeMiddleware(q), w.outcomeMiddleware(q), rn.middleware,
			w.recoverMiddleware, w.contextMiddleware)
	}
	w.refreshPaused(ctx)
	w.router = router
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		if err := router.Run(runCtx); err != nil {
			w.logger.Error("queue router stopped", "error", err)
		}
	}()
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(w.cfg.PausePoll)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				w.refreshPaused(runCtx)
			}
		}
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		return ctx.Err()
	}
	w.logger.Info("queue worker started", "queues", len(w.gates), "concurrency", w.cfg.Concurrency)
	return nil
}

func (w *Worker) refreshPaused(ctx context.Context) {
	for q, g := range w.gates {
		p, err := w.backend.Paused(ctx, q)
		if err != nil {
			continue // keep the last known state while the backend is away
		}
		g.setPaused(p)
	}
}

// Stop takes no new jobs, lets running ones finish within
// queue.shutdown_timeout (then cancels their contexts; an aborted job is
// not acked and runs again after a restart), and stops background work.
// Jobs read ahead but not started stay with the transport, which hands
// them out again at once on restart.
func (w *Worker) Stop(ctx context.Context) error {
	if w.cancel == nil {
		return nil
	}
	abortTimer := time.AfterFunc(w.cfg.ShutdownTimeout, w.abortFn)
	defer abortTimer.Stop()
	var err error
	if w.router != nil {
		err = w.router.Close()
		// The Router closes its subscribers without waiting for them; wait
		// here, so the transports have flushed their acks when Stop returns.
		for _, g := range w.gates {
			err = errors.Join(err, g.Close())
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
		job := jobFrom(ctx)
		h := d.handler(job.Name)
		if h == nil {
			return fmt.Errorf("%w %q", ErrNoHandler, job.Name)
		}
		return h(ctx, job)
	}
}
