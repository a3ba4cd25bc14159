package queuetest

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// BenchBackend opens a fresh backend for a benchmark (closed at cleanup).
type BenchBackend func(tb testing.TB, cfg queue.Config) queue.Backend

// benchPayload is the ~200-byte JSON job of the benchmark table.
type benchPayload struct {
	UserID    int64             `json:"userId"`
	Event     string            `json:"event"`
	Timestamp string            `json:"timestamp"`
	Data      map[string]string `json:"data"`
}

func newPayload(i int) benchPayload {
	return benchPayload{UserID: int64(i), Event: "profile_view", Timestamp: "2026-11-27T10:00:00.000Z",
		Data: map[string]string{"source": "web", "ref": "notification", "session": "3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11",
			"agent": "Mozilla/5.0 (X11; Linux x86_64)"}}
}

func benchEnv(b *testing.B, open BenchBackend, concurrency int) (queue.Config, queue.Backend, *queue.Client) {
	cfg := Config()
	cfg.Queues = []string{"bench"}
	cfg.Concurrency = concurrency
	be := open(b, cfg)
	c, err := queue.NewClient(cfg, be, Logger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return cfg, be, c
}

// BenchEnqueueSingle: one caller, one Enqueue at a time.
func BenchEnqueueSingle(b *testing.B, open BenchBackend) {
	_, _, c := benchEnv(b, open, 5)
	ctx := context.Background()
	p := newPayload(1)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.Enqueue(ctx, "bench", "event", p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchEnqueueConcurrent: 50 callers enqueuing one job at a time.
func BenchEnqueueConcurrent(b *testing.B, open BenchBackend) {
	_, _, c := benchEnv(b, open, 5)
	ctx := context.Background()
	p := newPayload(1)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Enqueue(ctx, "bench", "event", p); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchEnqueueBulk: EnqueueBulk of 100 jobs per call.
func BenchEnqueueBulk(b *testing.B, open BenchBackend) {
	_, _, c := benchEnv(b, open, 5)
	ctx := context.Background()
	batch := make([]queue.NewJob, 100)
	for i := range batch {
		batch[i] = queue.NewJob{Name: "event", Payload: newPayload(i)}
	}
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n += 100 {
		if _, err := c.EnqueueBulk(ctx, "bench", batch[:min(100, b.N-n)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchDrain enqueues b.N jobs, then times a worker at the concurrency
// draining them with a handler that decodes the payload.
func BenchDrain(b *testing.B, open BenchBackend, concurrency int) {
	cfg, be, c := benchEnv(b, open, concurrency)
	ctx := context.Background()
	for n := 0; n < b.N; n += 1000 {
		jobs := make([]queue.NewJob, min(1000, b.N-n))
		for i := range jobs {
			jobs[i] = queue.NewJob{Name: "event", Payload: newPayload(n + i)}
		}
		if _, err := c.EnqueueBulk(ctx, "bench", jobs); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	all := make(chan struct{})
	w, err := queue.NewWorker(cfg, be, []queue.Handler{{Queue: "bench", Handle: func(_ context.Context, j *queue.Job) error {
		var p benchPayload
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return err
		}
		if done.Add(1) == int64(b.N) {
			close(all)
		}
		return nil
	}}}, Logger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("drained %d of %d", done.Load(), b.N)
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
	stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_ = w.Stop(stopCtx)
}

// BenchLatency enqueues at `rate` jobs/s for a fixed number of jobs
// (b.N is ignored beyond one run) and reports the p50 and p99 of
// enqueue→handler start.
func BenchLatency(b *testing.B, open BenchBackend, rate int) {
	cfg, be, c := benchEnv(b, open, 5)
	ctx := context.Background()
	n := rate * 2 // two seconds of traffic
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	all := make(chan struct{})
	w, err := queue.NewWorker(cfg, be, []queue.Handler{{Queue: "bench", Handle: func(_ context.Context, j *queue.Job) error {
		d := time.Since(j.EnqueuedAt)
		mu.Lock()
		lat = append(lat, d)
		if len(lat) == n {
			close(all)
		}
		mu.Unlock()
		return nil
	}}}, Logger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		_ = w.Stop(stopCtx)
	}()
	p := newPayload(1)
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	next := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d) // pacing the producer at the target rate
		}
		next = next.Add(interval)
		if _, err := c.Enqueue(ctx, "bench", "event", p); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatal("latency run did not finish")
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// processCPU is the user+system CPU time this process has used (the
// worker's side only: Redis's own CPU is not included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
