// Command queuebench is Tipbox's side of the side-by-side queue benchmark
// (the BullMQ side is scripts/bullmq/bench.mjs
// and scripts/bullmq/run.sh runs both and prints the ratios).
//
// It runs the same scenarios as the BullMQ script through Tipbox's public
// queue API (queue.Client, queue.Worker) over the Redis backend, opened the
// way the fx modules open it (redis.NewDriver → Driver.Open with the
// defaults of `queue` and `queue.redis`):
//
//	enqueue_single        Client.Enqueue, one call after the other
//	enqueue_concurrent50  50 goroutines, each calling Client.Enqueue
//	enqueue_bulk100       Client.EnqueueBulk of 100
//	drain_c5, drain_c50   a Worker at queue.concurrency 5 / 50 draining a
//	                      pre-filled queue with a handler that decodes the payload
//	latency_500/5000      p50/p99 from just before Enqueue to the handler's
//	                      start, the producer paced (open loop) at 500 and
//	                      5,000 jobs/s, queue.concurrency 5
//
// and the go-redis ceiling on the same Redis: XADD pipelined ×100, and
// XREADGROUP COUNT 100 (decoding each job) + one XACK per batch.
//
// Every scenario reports the process's CPU time per job (getrusage: this
// process only) and the Redis server's CPU per job (INFO cpu: the whole
// server, so other clients of a shared Redis add to it).
//
// Env (flags override): REDIS_URL (redis://127.0.0.1:6379/0), JOBS (20000),
// LAT_SECONDS (4), WARMUP (2000: jobs enqueued by 50 callers and drained,
// untimed, before the scenarios; the BullMQ side does the same to warm V8),
// ONLY (comma-separated scenario names). It prints one
// JSON object on stdout; keys live under a per-run prefix and are deleted
// at the end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	redisq "github.com/tipbox/tipbox/adapters/queue/redis"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/queue"
)

// waitLimit bounds every wait for a worker to finish.
const waitLimit = 3 * time.Minute

// payload is the job payload; same fields, values and padding rule as
// scripts/bullmq/bench.mjs.
type payload struct {
	UserID int    `json:"userId"`
	Event  string `json:"event"`
	SentAt int64  `json:"sentAt"` // µs since the epoch, taken just before Enqueue
	Data   struct {
		Source  string `json:"source"`
		Ref     string `json:"ref"`
		Session string `json:"session"`
		Pad     string `json:"pad"`
	} `json:"data"`
}

var pad string

func newPayload(i int, sentAt int64) payload {
	var p payload
	p.UserID, p.Event, p.SentAt = i, "profile_view", sentAt
	p.Data.Source, p.Data.Ref, p.Data.Session = "web", "notification", "3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11"
	p.Data.Pad = pad
	return p
}

func init() {
	// Padding that makes a typical payload (5-digit userId, 16-digit
	// sentAt) exactly 200 bytes.
	b, _ := json.Marshal(newPayload(10000, 1e15))
	pad = strings.Repeat("x", 200-len(b))
}

func nowMicros() int64 { return time.Now().UnixMicro() }

// result is one scenario's numbers (the same keys as bench.mjs).
type result struct {
	Jobs              int     `json:"jobs"`
	Seconds           float64 `json:"seconds,omitempty"`
	JobsPerSec        float64 `json:"jobs_per_sec,omitempty"`
	CPUMicrosPerJob   float64 `json:"cpu_us_per_job,omitempty"`
	RedisCPUMicrosJob float64 `json:"redis_cpu_us_per_job,omitempty"`
	Concurrency       int     `json:"concurrency,omitempty"`
	Rate              int     `json:"rate,omitempty"`
	OfferedRate       float64 `json:"offered_rate,omitempty"`
	P50ms             float64 `json:"p50_ms,omitempty"`
	P99ms             float64 `json:"p99_ms,omitempty"`
	MaxMs             float64 `json:"max_ms,omitempty"`
	// Redis used_memory per job: waiting, and completed within retention.
	BytesPerWaiting   float64 `json:"bytes_per_waiting,omitempty"`
	BytesPerCompleted float64 `json:"bytes_per_completed,omitempty"`
}

type bench struct {
	url, prefix string
	jobs        int
	latSeconds  float64
	logger      *slog.Logger
	admin       goredis.UniversalClient
	seq         int
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "queuebench:", err)
		os.Exit(1)
	}
}

func run() error {
	jobsDef, err := envInt("JOBS", 20000)
	if err != nil {
		return err
	}
	latDef, err := envFloat("LAT_SECONDS", 4)
	if err != nil {
		return err
	}
	warmDef := 2000
	if v := os.Getenv("WARMUP"); v != "" {
		if warmDef, err = strconv.Atoi(v); err != nil || warmDef < 0 {
			return fmt.Errorf("WARMUP=%q: not an integer ≥ 0", v)
		}
	}
	url := flag.String("redis", envStr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	jobs := flag.Int("jobs", jobsDef, "jobs per throughput scenario")
	latSeconds := flag.Float64("lat-seconds", latDef, "length of each paced latency run, in seconds")
	warmup := flag.Int("warmup", warmDef, "jobs enqueued and drained, untimed, before the scenarios")
	only := flag.String("only", os.Getenv("ONLY"), "comma-separated scenarios to run (default: all)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the selected scenarios to this file")
	traceFile := flag.String("trace", "", "write an execution trace of the selected scenarios to this file (go tool trace)")
	flag.Parse()
	if *jobs <= 0 || *latSeconds <= 0 {
		return errors.New("-jobs and -lat-seconds must be positive")
	}

	b := &bench{url: *url, jobs: *jobs, latSeconds: *latSeconds,
		prefix: fmt.Sprintf("qbench-tipbox-%d-%d:", os.Getpid(), time.Now().UnixNano()),
		logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	b.admin, err = redisconn.NewClient(redisconn.Config{URL: b.url})
	if err != nil {
		return err
	}
	defer b.admin.Close()
	if err := b.admin.Ping(context.Background()).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", b.url, err)
	}

	scenarios := []struct {
		name string
		run  func() (result, error)
	}{
		{"enqueue_single", b.enqueueSingle},
		{"enqueue_concurrent50", b.enqueueConcurrent},
		{"enqueue_bulk100", b.enqueueBulk},
		// Each ceiling runs right after the scenarios it bounds, so both
		// see the same machine load.
		{"ceiling_xadd_pipelined100", b.ceilingXAdd},
		{"drain_c5", func() (result, error) { return b.drain(5) }},
		{"drain_c50", func() (result, error) { return b.drain(50) }},
		{"ceiling_xreadgroup100", b.ceilingXReadGroup},
		{"latency_500", func() (result, error) { return b.latency(500) }},
		{"ceiling_latency_500", func() (result, error) { return b.ceilingLatency(500) }},
		{"latency_5000", func() (result, error) { return b.latency(5000) }},
		{"memory", b.memory},
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}

	bi, _ := debug.ReadBuildInfo()
	out := map[string]any{
		"system": "tipbox", "go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"module": bi.Main.Path, "redis_url": redactURL(b.url), "jobs": b.jobs,
		"payload_bytes": mustLen(newPayload(10000, nowMicros())), "lat_seconds": b.latSeconds,
		"warmup_jobs": *warmup,
	}
	res, ceil := map[string]result{}, map[string]result{}
	var runErr error
	if *warmup > 0 {
		fmt.Fprintf(os.Stderr, "[tipbox] warmup %d jobs ...\n", *warmup)
		runErr = b.warmup(*warmup)
	}
	for _, s := range scenarios {
		if runErr != nil {
			break
		}
		if len(want) > 0 && !want[s.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "[tipbox] %s ...\n", s.name)
		r, err := s.run()
		if err != nil {
			runErr = fmt.Errorf("%s: %w", s.name, err)
			break
		}
		line, _ := json.Marshal(r)
		fmt.Fprintf(os.Stderr, "[tipbox] %s %s\n", s.name, line)
		if strings.HasPrefix(s.name, "ceiling_") {
			ceil[strings.TrimPrefix(s.name, "ceiling_")] = r
		} else {
			res[s.name] = r
		}
	}
	out["scenarios"], out["ceiling"] = res, ceil
	out["tipbox_config"] = b.configSummary()
	if err := b.cleanup(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("cleanup: %w", err))
	}
	if runErr != nil {
		out["error"] = runErr.Error()
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		return err
	}
	return runErr
}

// backend is what the redis driver opens: a queue.Backend to close.
type backend interface {
	queue.Backend
	io.Closer
}

// open builds a backend, a Client and the config of a fresh queue, the way
// queue.Module / redis.Module do: defaults of `queue` and `queue.redis`,
// the driver "redis" and its Open.
func (b *bench) open(scenario string, concurrency int) (queue.Config, backend, *queue.Client, string, error) {
	b.seq++
	name := fmt.Sprintf("%s-%d", scenario, b.seq)
	qcfg := queue.Config{Driver: "redis", Concurrency: concurrency, Queues: []string{name}}
	qcfg.SetDefaults()
	rcfg := b.redisConfig()
	opened, err := redisq.NewDriver(rcfg, redisconn.Config{URL: b.url}, b.logger, nil).Open(qcfg, nil)
	if err != nil {
		return qcfg, nil, nil, "", err
	}
	be := opened.(backend)
	c, err := queue.NewClient(qcfg, be, b.logger, nil)
	if err != nil {
		_ = be.Close()
		return qcfg, nil, nil, "", err
	}
	return qcfg, be, c, name, nil
}

func (b *bench) redisConfig() redisq.Config {
	c := redisq.Config{Prefix: b.prefix}
	c.SetDefaults()
	return c
}

func (b *bench) configSummary() map[string]any {
	q := queue.Config{Driver: "redis"}
	q.SetDefaults()
	r := b.redisConfig()
	return map[string]any{"retry_max_attempts": q.Retry.MaxAttempts, "retry_backoff_initial": q.Retry.Backoff.Initial.String(),
		"retention_completed": q.Retention.Completed, "retention_failed": q.Retention.Failed,
		"redis_min_idle_time": r.MinIdleTime.String(), "redis_promote_interval": r.PromoteInterval.String(),
		"worker_in_flight": "concurrency (claims only for free slots)"}
}

// measure times fn, which handles `jobs` jobs, with its CPU costs.
func (b *bench) measure(jobs int, fn func() error) (result, error) {
	ctx := context.Background()
	r0, err := b.redisCPU(ctx)
	if err != nil {
		return result{}, err
	}
	c0 := processCPU()
	t0 := time.Now()
	if err := fn(); err != nil {
		return result{}, err
	}
	secs := time.Since(t0).Seconds()
	cpu := processCPU() - c0
	r1, err := b.redisCPU(ctx)
	if err != nil {
		return result{}, err
	}
	return result{Jobs: jobs, Seconds: round(secs, 4), JobsPerSec: math.Round(float64(jobs) / secs),
		CPUMicrosPerJob:   round(float64(cpu.Nanoseconds())/1e3/float64(jobs), 2),
		RedisCPUMicrosJob: round((r1-r0)*1e6/float64(jobs), 2)}, nil
}

func (b *bench) enqueueSingle() (result, error) {
	_, be, c, q, err := b.open("single", 5)
	if err != nil {
		return result{}, err
	}
	defer be.Close()
	ctx := context.Background()
	return b.measure(b.jobs, func() error {
		for i := range b.jobs {
			if _, err := c.Enqueue(ctx, q, "event", newPayload(i, nowMicros())); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *bench) enqueueConcurrent() (result, error) {
	_, be, c, q, err := b.open("concurrent", 5)
	if err != nil {
		return result{}, err
	}
	defer be.Close()
	ctx := context.Background()
	return b.measure(b.jobs, func() error {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < b.jobs; i = int(next.Add(1)) - 1 {
					if _, err := c.Enqueue(ctx, q, "event", newPayload(i, nowMicros())); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	})
}

func (b *bench) enqueueBulk() (result, error) {
	_, be, c, q, err := b.open("bulk", 5)
	if err != nil {
		return result{}, err
	}
	defer be.Close()
	ctx := context.Background()
	batch := make([]queue.NewJob, 100)
	return b.measure(b.jobs, func() error {
		for n := 0; n < b.jobs; n += 100 {
			k := min(100, b.jobs-n)
			for i := range k {
				batch[i] = queue.NewJob{Name: "event", Payload: newPayload(n+i, nowMicros())}
			}
			if _, err := c.EnqueueBulk(ctx, q, batch[:k]); err != nil {
				return err
			}
		}
		return nil
	})
}

func fill(ctx context.Context, c *queue.Client, q string, n int) error {
	for done := 0; done < n; done += 1000 {
		jobs := make([]queue.NewJob, min(1000, n-done))
		for i := range jobs {
			jobs[i] = queue.NewJob{Name: "event", Payload: newPayload(done+i, nowMicros())}
		}
		if _, err := c.EnqueueBulk(ctx, q, jobs); err != nil {
			return err
		}
	}
	return nil
}

func stopWorker(w *queue.Worker) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return w.Stop(ctx)
}

// warmup enqueues n jobs from 50 goroutines and drains them at
// concurrency 5, untimed.
func (b *bench) warmup(n int) error {
	qcfg, be, c, q, err := b.open("warmup", 5)
	if err != nil {
		return err
	}
	defer be.Close()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				_, _ = c.Enqueue(ctx, q, "event", newPayload(i, nowMicros())) // a lost job shows as a timeout below
			}
		}()
	}
	wg.Wait()
	var done atomic.Int64
	all := make(chan struct{})
	w, err := queue.NewWorker(qcfg, be, []queue.Handler{{Queue: q, Handle: func(_ context.Context, j *queue.Job) error {
		var p payload
		if err := j.Decode(&p); err != nil {
			return err
		}
		if done.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}}}, b.logger, nil)
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	select {
	case <-all:
	case <-time.After(waitLimit):
		err = fmt.Errorf("warmup: %d of %d jobs in %s", done.Load(), n, waitLimit)
	}
	return errors.Join(err, stopWorker(w))
}

// usedMemory is Redis INFO memory used_memory.
func (b *bench) usedMemory(ctx context.Context) (int64, error) {
	info, err := b.admin.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}

// memory measures Redis memory per waiting job (JOBS enqueued), then per
// completed job kept by retention (retention.completed = JOBS). Run it on
// a Redis nobody else writes to: used_memory is the whole server's.
func (b *bench) memory() (result, error) {
	ctx := context.Background()
	b.seq++
	q := fmt.Sprintf("memory-%d", b.seq)
	qcfg := queue.Config{Driver: "redis", Concurrency: 5, Queues: []string{q}}
	qcfg.SetDefaults()
	qcfg.Retention.Completed = b.jobs
	opened, err := redisq.NewDriver(b.redisConfig(), redisconn.Config{URL: b.url}, b.logger, nil).Open(qcfg, nil)
	if err != nil {
		return result{}, err
	}
	be := opened.(backend)
	defer be.Close()
	c, err := queue.NewClient(qcfg, be, b.logger, nil)
	if err != nil {
		return result{}, err
	}
	m0, err := b.usedMemory(ctx)
	if err != nil {
		return result{}, err
	}
	if err := fill(ctx, c, q, b.jobs); err != nil {
		return result{}, err
	}
	m1, err := b.usedMemory(ctx)
	if err != nil {
		return result{}, err
	}
	var done atomic.Int64
	all := make(chan struct{})
	w, err := queue.NewWorker(qcfg, be, []queue.Handler{{Queue: q, Handle: func(context.Context, *queue.Job) error {
		if done.Add(1) == int64(b.jobs) {
			close(all)
		}
		return nil
	}}}, b.logger, nil)
	if err != nil {
		return result{}, err
	}
	if err := w.Start(ctx); err != nil {
		return result{}, err
	}
	select {
	case <-all:
	case <-time.After(waitLimit):
		err = fmt.Errorf("memory: ran %d of %d jobs", done.Load(), b.jobs)
	}
	err = errors.Join(err, stopWorker(w))
	m2, merr := b.usedMemory(ctx)
	return result{Jobs: b.jobs, BytesPerWaiting: float64(m1-m0) / float64(b.jobs),
		BytesPerCompleted: float64(m2-m0) / float64(b.jobs)}, errors.Join(err, merr)
}

func (b *bench) drain(concurrency int) (result, error) {
	qcfg, be, c, q, err := b.open(fmt.Sprintf("drain%d", concurrency), concurrency)
	if err != nil {
		return result{}, err
	}
	defer be.Close()
	ctx := context.Background()
	if err := fill(ctx, c, q, b.jobs); err != nil {
		return result{}, err
	}
	var done atomic.Int64
	all := make(chan struct{})
	handler := func(_ context.Context, j *queue.Job) error {
		var p payload
		if err := j.Decode(&p); err != nil {
			return err
		}
		if done.Add(1) == int64(b.jobs) {
			close(all)
		}
		return nil
	}
	w, err := queue.NewWorker(qcfg, be, []queue.Handler{{Queue: q, Handle: handler}}, b.logger, nil)
	if err != nil {
		return result{}, err
	}
	started := false
	r, err := b.measure(b.jobs, func() error {
		started = true
		if err := w.Start(ctx); err != nil {
			return err
		}
		select {
		case <-all:
			return nil
		case <-time.After(waitLimit):
			return fmt.Errorf("drained %d of %d jobs in %s", done.Load(), b.jobs, waitLimit)
		}
	})
	if started {
		err = errors.Join(err, stopWorker(w))
	}
	r.Concurrency = concurrency
	return r, err
}

func (b *bench) latency(rate int) (result, error) {
	qcfg, be, c, q, err := b.open(fmt.Sprintf("latency%d", rate), 5)
	if err != nil {
		return result{}, err
	}
	defer be.Close()
	ctx := context.Background()
	total := int(math.Round(float64(rate) * b.latSeconds))
	lat := make([]int64, total)
	var got atomic.Int64
	all := make(chan struct{})
	w, err := queue.NewWorker(qcfg, be, []queue.Handler{{Queue: q, Handle: func(_ context.Context, j *queue.Job) error {
		var p payload
		if err := j.Decode(&p); err != nil {
			return err
		}
		d := nowMicros() - p.SentAt
		if i := got.Add(1) - 1; i < int64(total) {
			lat[i] = d
			if i == int64(total)-1 {
				close(all)
			}
		}
		return nil
	}}}, b.logger, nil)
	if err != nil {
		return result{}, err
	}
	if err := w.Start(ctx); err != nil {
		return result{}, err
	}
	defer func() { _ = stopWorker(w) }()
	time.Sleep(200 * time.Millisecond) // let the subscriber reach its blocking read

	// Open loop: job i is due at start + i/rate; each wake-up enqueues every
	// job that is due, without waiting for earlier Enqueues to return.
	errs := make(chan error, 1)
	start := time.Now()
	sent := 0
	for sent < total {
		due := min(total, int(time.Since(start).Seconds()*float64(rate))+1)
		for ; sent < due; sent++ {
			go func(i int) {
				if _, err := c.Enqueue(ctx, q, "event", newPayload(i, nowMicros())); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}(sent)
		}
		if sent < total {
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) * float64(time.Second) / float64(rate)))))
		}
	}
	offered := float64(total) / time.Since(start).Seconds()
	select {
	case <-all:
	case err := <-errs:
		return result{}, err
	case <-time.After(waitLimit):
		return result{}, fmt.Errorf("%d of %d jobs started in %s", got.Load(), total, waitLimit)
	}
	slices.Sort(lat)
	pct := func(p int) float64 { return round(float64(lat[min(total-1, total*p/100)])/1000, 3) }
	return result{Jobs: total, Rate: rate, OfferedRate: math.Round(offered), Concurrency: 5,
		P50ms: pct(50), P99ms: pct(99), MaxMs: round(float64(lat[total-1])/1000, 3)}, nil
}

// ceilingBody is what a Tipbox stream entry carries: the job envelope
// around the same 200-byte payload.
func ceilingBody() ([]byte, error) {
	raw, err := json.Marshal(newPayload(10000, nowMicros()))
	if err != nil {
		return nil, err
	}
	return json.Marshal(&queue.Job{ID: uuid.NewString(), Queue: "ceiling", Name: "event", Payload: raw,
		Attempt: 1, MaxAttempts: 3, EnqueuedAt: time.Now()})
}

func (b *bench) ceilingStream() string {
	b.seq++
	return fmt.Sprintf("%s{ceiling-%d}:normal", b.prefix, b.seq)
}

func (b *bench) xaddAll(ctx context.Context, stream string, body []byte) error {
	for done := 0; done < b.jobs; {
		n := min(100, b.jobs-done)
		pipe := b.admin.Pipeline()
		for range n {
			pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{
				"id", uuid.NewString(), "payload", body}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// ceilingXAdd: plain go-redis, XADD pipelined ×100 of Tipbox-sized entries.
func (b *bench) ceilingXAdd() (result, error) {
	ctx := context.Background()
	body, err := ceilingBody()
	if err != nil {
		return result{}, err
	}
	stream := b.ceilingStream()
	defer b.admin.Del(ctx, stream)
	return b.measure(b.jobs, func() error { return b.xaddAll(ctx, stream, body) })
}

// ceilingXReadGroup: plain go-redis, XREADGROUP COUNT 100, decode each job
// (envelope and payload, as the worker does), one XACK per batch.
func (b *bench) ceilingXReadGroup() (result, error) {
	ctx := context.Background()
	body, err := ceilingBody()
	if err != nil {
		return result{}, err
	}
	stream := b.ceilingStream()
	defer b.admin.Del(ctx, stream)
	if err := b.xaddAll(ctx, stream, body); err != nil {
		return result{}, err
	}
	if err := b.admin.XGroupCreate(ctx, stream, "ceiling", "0").Err(); err != nil {
		return result{}, err
	}
	return b.measure(b.jobs, func() error {
		ids := make([]string, 0, 100)
		for done := 0; done < b.jobs; {
			res, err := b.admin.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "ceiling", Consumer: "c",
				Streams: []string{stream, ">"}, Count: 100, Block: -1}).Result()
			if err != nil {
				return err
			}
			ids = ids[:0]
			for _, xm := range res[0].Messages {
				s, _ := xm.Values["payload"].(string)
				var j queue.Job
				if err := json.Unmarshal([]byte(s), &j); err != nil {
					return err
				}
				var p payload
				if err := j.Decode(&p); err != nil {
					return err
				}
				ids = append(ids, xm.ID)
			}
			if err := b.admin.XAck(ctx, stream, "ceiling", ids...).Err(); err != nil {
				return err
			}
			done += len(ids)
		}
		return nil
	})
}

// ceilingLatency is the floor under enqueue→start latency with plain
// go-redis: one XADD per job, paced (open loop) at rate, read by one
// XREADGROUP BLOCK loop (COUNT 100) that decodes each job, acked per batch.
func (b *bench) ceilingLatency(rate int) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := b.ceilingStream()
	defer b.admin.Del(context.Background(), stream)
	if err := b.admin.XGroupCreateMkStream(ctx, stream, "ceiling", "$").Err(); err != nil {
		return result{}, err
	}
	total := int(math.Round(float64(rate) * b.latSeconds))
	lat := make([]int64, 0, total)
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		ids := make([]string, 0, 100)
		for len(lat) < total {
			res, err := b.admin.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "ceiling", Consumer: "c",
				Streams: []string{stream, ">"}, Count: 100, Block: 200 * time.Millisecond}).Result()
			if errors.Is(err, goredis.Nil) {
				continue
			}
			if err != nil {
				readErr <- err
				return
			}
			ids = ids[:0]
			for _, xm := range res[0].Messages {
				s, _ := xm.Values["payload"].(string)
				var j queue.Job
				if err := json.Unmarshal([]byte(s), &j); err != nil {
					readErr <- err
					return
				}
				var p payload
				if err := j.Decode(&p); err != nil {
					readErr <- err
					return
				}
				lat = append(lat, nowMicros()-p.SentAt)
				ids = append(ids, xm.ID)
			}
			if err := b.admin.XAck(ctx, stream, "ceiling", ids...).Err(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the reader reach its blocking read
	start := time.Now()
	sent := 0
	for sent < total {
		due := min(total, int(time.Since(start).Seconds()*float64(rate))+1)
		for ; sent < due; sent++ {
			go func(i int) {
				raw, _ := json.Marshal(newPayload(i, nowMicros()))
				body, _ := json.Marshal(&queue.Job{ID: uuid.NewString(), Queue: "ceiling", Name: "event",
					Payload: raw, Attempt: 1, MaxAttempts: 3, EnqueuedAt: time.Now()})
				_ = b.admin.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{
					"id", uuid.NewString(), "payload", body}}).Err()
			}(sent)
		}
		if sent < total {
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) * float64(time.Second) / float64(rate)))))
		}
	}
	offered := float64(total) / time.Since(start).Seconds()
	select {
	case err := <-readErr:
		if err != nil {
			return result{}, err
		}
	case <-time.After(waitLimit):
		return result{}, fmt.Errorf("latency ceiling: not every job arrived in %s", waitLimit)
	}
	slices.Sort(lat)
	pct := func(p int) float64 { return round(float64(lat[min(total-1, total*p/100)])/1000, 3) }
	return result{Jobs: total, Rate: rate, OfferedRate: math.Round(offered),
		P50ms: pct(50), P99ms: pct(99), MaxMs: round(float64(lat[total-1])/1000, 3)}, nil
}

// cleanup deletes every key of the run's prefix.
func (b *bench) cleanup() error {
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := b.admin.Scan(ctx, cursor, b.prefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := b.admin.Del(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// redisCPU is the server's used_cpu_user + used_cpu_sys, in seconds.
func (b *bench) redisCPU(ctx context.Context) (float64, error) {
	info, err := b.admin.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
			}
			sum += f
		}
	}
	return sum, nil
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func mustLen(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

func redactURL(u string) string {
	if i, j := strings.Index(u, "//"), strings.LastIndex(u, "@"); i >= 0 && j > i {
		return u[:i+2] + "***" + u[j:]
	}
	return u
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: not a positive integer", name, v)
	}
	return n, nil
}

func envFloat(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%s=%q: not a positive number", name, v)
	}
	return f, nil
}
