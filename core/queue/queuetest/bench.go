package queuetest

import (
	"context"
	"encoding/json"
	"fmt"
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
	return benchEnvLimited(b, open, concurrency, nil)
}

func benchEnvLimited(b *testing.B, open BenchBackend, concurrency int, limits []string) (queue.Config, queue.Backend, *queue.Client) {
	cfg := Config()
	cfg.Queues = []string{"bench"}
	cfg.Concurrency = concurrency
	cfg.Limits = limits
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
	benchDrain(b, open, concurrency, nil)
}

// BenchDrainLimited is BenchDrain with the queue limited far above the
// rate it reaches (10 million jobs per second): the cost of the limiter.
func BenchDrainLimited(b *testing.B, open BenchBackend, concurrency int) {
	benchDrain(b, open, concurrency, []string{"bench=10000000/1s"})
}

func benchDrain(b *testing.B, open BenchBackend, concurrency int, limits []string) {
	cfg, be, c := benchEnvLimited(b, open, concurrency, limits)
	fillDrain(b, c)
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
	timeDrain(b, w, all, &done)
}

// BenchDrainBatch is BenchDrain through a batch handler (queue.Batch,
// up to 64 jobs, 1 ms wait) that decodes each payload: the path of a
// queue whose jobs are handled together, like the notifications'.
func BenchDrainBatch(b *testing.B, open BenchBackend, concurrency int) {
	cfg, be, c := benchEnvLimited(b, open, concurrency, nil)
	fillDrain(b, c)
	var done atomic.Int64
	all := make(chan struct{})
	batch := queue.BatchHandler{Queue: "bench", MaxSize: 64, MaxWait: time.Millisecond,
		Handle: func(_ context.Context, js []*queue.Job) []error {
			errs := make([]error, len(js))
			for i, j := range js {
				var p benchPayload
				errs[i] = json.Unmarshal(j.Payload, &p)
			}
			if done.Add(int64(len(js))) == int64(b.N) {
				close(all)
			}
			return errs
		}}
	w, err := queue.NewWorker(cfg, be, []queue.Handler{batch.Handler()}, Logger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	timeDrain(b, w, all, &done)
}

// fillDrain enqueues the b.N jobs a drain benchmark drains.
func fillDrain(b *testing.B, c *queue.Client) {
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
}

// timeDrain starts w, waits until its handler closes all (done counts
// the jobs handled), reports jobs/s and the process's CPU a job, and stops
// w.
func timeDrain(b *testing.B, w *queue.Worker, all <-chan struct{}, done *atomic.Int64) {
	ctx := context.Background()
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

// BenchFairness enqueues 100 groups of unequal size (group g has
// 1 + g×g/10 jobs, the big ones first, the ten smallest holding 1 to 9
// jobs) into a worker at concurrency 5 whose handler sleeps 200 µs, and
// reports the waits (enqueue → handler start) of the ten smallest groups'
// jobs against a job's own run time, as measured in the handler (a
// 200 µs sleep takes longer on a loaded machine, and the nominal 200 µs
// made the ratio look several times worse than it was):
//
//   - p99/own-run: the p99 wait of the ten smallest groups' jobs (34
//     jobs: in effect the slowest, the 9th job of the 9-job group);
//   - first-p99/own-run: the p99 wait of each of those groups' first job,
//     what a group that just got work waits before it is served at all;
//   - one-job-max/own-run: the longest wait of the groups of one job
//     (the smallest groups), against their own run time;
//   - turn/own-run: one turn of round-robin at the time the small groups
//     came (groups with jobs left ÷ the run's throughput): each further
//     job of a group waits about one turn;
//   - one-job-done/alone: the longest time from enqueue to the end of its
//     job of the groups of one job, against the same for a one-job group
//     alone on the idle worker before the run (median of 5): how much
//     longer the smallest groups take among 100 busy groups than alone,
//     the queue's own pickup time included on both sides.
func BenchFairness(b *testing.B, open BenchBackend) {
	cfg, be, c := benchEnv(b, open, 5)
	ctx := context.Background()
	type size struct{ g, n int }
	var sizes []size
	for g := 99; g >= 0; g-- {
		sizes = append(sizes, size{g, 1 + g*g/10})
	}
	type run struct {
		g, k            int
		wait, ran, done time.Duration
	}
	solo := make(chan time.Duration, 1)
	var mu sync.Mutex
	var runs []run
	left := map[int]int{}
	total := 0
	for _, s := range sizes {
		total += s.n
		left[s.g] = s.n
	}
	var done atomic.Int64
	all := make(chan struct{})
	w, err := queue.NewWorker(cfg, be, []queue.Handler{{Queue: "bench", Handle: func(_ context.Context, j *queue.Job) error {
		var p struct {
			G  int   `json:"g"`
			K  int   `json:"k"`
			At int64 `json:"at"`
		}
		_ = json.Unmarshal(j.Payload, &p)
		t0 := time.Now()
		time.Sleep(200 * time.Microsecond) // the work
		r := run{g: p.G, k: p.K, wait: t0.Sub(time.Unix(0, p.At)), ran: time.Since(t0)}
		if p.G < 0 { // a one-job group alone, before the run
			solo <- time.Since(time.Unix(0, p.At))
			return nil
		}
		mu.Lock()
		r.done = time.Since(time.Unix(0, p.At))
		runs = append(runs, r)
		left[p.G]--
		mu.Unlock()
		if done.Add(1) == int64(total) {
			close(all)
		}
		return nil
	}}}, Logger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var alone []time.Duration
	for i := range 5 {
		_, err := c.Enqueue(ctx, "bench", "g", map[string]any{"g": -1, "at": time.Now().UnixNano()},
			queue.WithGroup(fmt.Sprintf("alone%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		alone = append(alone, <-solo)
	}
	b.ResetTimer()
	start := time.Now()
	busy := 0 // groups with jobs left when the ten smallest came
	for _, s := range sizes {
		if s.g == 9 {
			mu.Lock()
			for _, n := range left {
				if n > 0 {
					busy++
				}
			}
			mu.Unlock()
		}
		jobs := make([]queue.NewJob, s.n)
		for i := range jobs {
			jobs[i] = queue.NewJob{Name: "g", Payload: map[string]any{"g": s.g, "k": i, "at": time.Now().UnixNano()},
				Options: []queue.Option{queue.WithGroup(fmt.Sprintf("g%d", s.g))}}
		}
		if _, err := c.EnqueueBulk(ctx, "bench", jobs); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("ran %d of %d", done.Load(), total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mu.Lock()
	var small, first, ran []time.Duration
	var oneJob, oneJobDone time.Duration
	for _, r := range runs {
		ran = append(ran, r.ran)
		if r.g >= 10 {
			continue
		}
		small = append(small, r.wait)
		if r.k == 0 {
			first = append(first, r.wait)
		}
		if 1+r.g*r.g/10 == 1 {
			oneJob, oneJobDone = max(oneJob, r.wait), max(oneJobDone, r.done)
		}
	}
	mu.Unlock()
	p99 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)*99/100]
	}
	own := p50(ran) // every job does the same work: its measured run time
	turn := time.Duration(float64(busy) / (float64(total) / elapsed.Seconds()) * float64(time.Second))
	b.ReportMetric(float64(own.Microseconds()), "own-run-µs")
	b.ReportMetric(float64(p99(small).Microseconds()), "p99-small-wait-µs")
	b.ReportMetric(float64(p99(small))/float64(own), "p99/own-run")
	b.ReportMetric(float64(p99(first))/float64(own), "first-p99/own-run")
	b.ReportMetric(float64(oneJob)/float64(own), "one-job-max/own-run")
	b.ReportMetric(float64(turn)/float64(own), "turn/own-run")
	b.ReportMetric(float64(p50(alone).Microseconds()), "alone-µs")
	b.ReportMetric(float64(oneJobDone)/float64(p50(alone)), "one-job-done/alone")
	b.ReportMetric(float64(busy), "busy-groups")
	stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_ = w.Stop(stopCtx)
}

// p50 is the median of d (sorted in place).
func p50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchJobByID fills the queue with 20,000 waiting jobs and 20,000
// completed ones kept by retention (the benchmark's 200-byte payload), then
// looks b.N of them up by id, one after the other, alternating the two
// states, and reports the p50 and p99 of Store.Job.
func BenchJobByID(b *testing.B, open BenchBackend) {
	const each = 20000
	cfg := Config()
	cfg.Queues = []string{"bench"}
	cfg.Concurrency = 50
	cfg.Retention.Completed = each
	be := open(b, cfg)
	c, err := queue.NewClient(cfg, be, Logger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fill := func(name string) []string {
		var ids []string
		for n := 0; n < each; n += 1000 {
			jobs := make([]queue.NewJob, 1000)
			for i := range jobs {
				jobs[i] = queue.NewJob{Name: name, Payload: newPayload(n + i)}
			}
			got, err := c.EnqueueBulk(ctx, "bench", jobs)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, got...)
		}
		return ids
	}
	done := fill("done")
	drainN(b, cfg, be, each)
	waiting := fill("wait")
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		ids, want := done, queue.StateCompleted
		if i%2 == 1 {
			ids, want = waiting, queue.StateWaiting
		}
		id := ids[(i*7919)%each]
		t0 := time.Now()
		j, err := be.Job(ctx, "bench", id)
		lat[i] = time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if j.ID != id || j.State != want {
			b.Fatalf("job %s: got %s in state %s, want %s", id, j.ID, j.State, want)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
}

// drainN runs a worker with a no-op handler until n jobs ran, then stops it.
func drainN(b *testing.B, cfg queue.Config, be queue.Backend, n int64) {
	ctx := context.Background()
	var ran atomic.Int64
	all := make(chan struct{})
	w, err := queue.NewWorker(cfg, be, []queue.Handler{{Queue: "bench", Handle: func(context.Context, *queue.Job) error {
		if ran.Add(1) == n {
			close(all)
		}
		return nil
	}}}, Logger(), nil)
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("drained %d of %d", ran.Load(), n)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := w.Stop(stopCtx); err != nil {
		b.Fatal(err)
	}
}
