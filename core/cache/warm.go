package cache

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WarmConfig configures start-up warming (config section cache.warm).
type WarmConfig struct {
	// Count is how many entries a module warms at start (0: no warming).
	Count int `yaml:"count"`
	// Concurrency bounds the loads running at once (default 4).
	Concurrency int `yaml:"concurrency"`
	// ReadinessBudget is the longest readiness waits for warming (default
	// 5s); after it the app reports ready while warming goes on.
	ReadinessBudget time.Duration `yaml:"readiness_budget"`
}

// SetDefaults fills unset fields.
func (c *WarmConfig) SetDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.ReadinessBudget == 0 {
		c.ReadinessBudget = 5 * time.Second
	}
}

// Validate reports invalid values.
func (c WarmConfig) Validate() error {
	switch {
	case c.Count < 0:
		return errorf("count: must be >= 0")
	case c.Concurrency < 1:
		return errorf("concurrency: must be >= 1")
	case c.ReadinessBudget < 0:
		return errorf("readiness_budget: must be >= 0")
	}
	return nil
}

// Warmup is a warming run in the background. Its methods are safe for
// concurrent use.
type Warmup struct {
	start   time.Time
	budget  time.Duration
	done    chan struct{}
	cancel  context.CancelFunc
	loaded  atomic.Int64
	failed  atomic.Int64
	total   int
	stopped sync.Once
}

// Warm calls fn for every key, at most concurrency at a time, in the
// background, and returns at once. fn normally is a closure around
// Aside.Get that discards the value. A failing fn is counted and logged at
// debug level; warming goes on. Cancelling ctx (or Stop) ends the run early.
//
// budget is what Ready uses: readiness should not wait for warming longer
// than that.
func Warm[K any](ctx context.Context, log *slog.Logger, keys []K, concurrency int, budget time.Duration, fn func(ctx context.Context, key K) error) *Warmup {
	if concurrency < 1 {
		concurrency = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Warmup{start: time.Now(), budget: budget, done: make(chan struct{}), cancel: cancel, total: len(keys)}
	go func() {
		defer close(w.done)
		defer cancel()
		log.Info("cache warming started", "keys", len(keys), "concurrency", concurrency)
		sem := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
	loop:
		for _, k := range keys {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			if ctx.Err() != nil { // both were ready: select picks at random
				<-sem
				break
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := fn(ctx, k); err != nil {
					w.failed.Add(1)
					log.Debug("cache warming: load failed", "key", k, "err", err)
					return
				}
				w.loaded.Add(1)
			}()
		}
		wg.Wait()
		log.Info("cache warming finished", "loaded", w.loaded.Load(), "failed", w.failed.Load(),
			"of", len(keys), "took", time.Since(w.start), "cancelled", ctx.Err() != nil)
	}()
	return w
}

// Done is closed when the run has ended (finished or cancelled).
func (w *Warmup) Done() <-chan struct{} { return w.done }

// Ready reports whether readiness may pass: warming has ended, or its
// budget has elapsed since it started.
func (w *Warmup) Ready() bool {
	select {
	case <-w.done:
		return true
	default:
		return time.Since(w.start) >= w.budget
	}
}

// Wait blocks until warming ends, the budget elapses or ctx ends, whichever
// is first. It returns ctx's error only if ctx ended first.
func (w *Warmup) Wait(ctx context.Context) error {
	t := time.NewTimer(max(0, w.budget-time.Since(w.start)))
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Stop cancels the run and waits for the loads in progress to return.
func (w *Warmup) Stop() {
	w.stopped.Do(w.cancel)
	<-w.done
}

// Progress returns how many keys were loaded and failed so far, of total.
func (w *Warmup) Progress() (loaded, failed, total int) {
	return int(w.loaded.Load()), int(w.failed.Load()), w.total
}
