// Command pgqueuebench compares Tipbox's PostgreSQL queue driver with
// River (riverqueue/river over pgx) on the same PostgreSQL, in one run:
// a bulk enqueue of N no-op jobs, then their drain by one process running
// them at concurrency C. Each round of each system gets a database of its
// own, created and dropped here.
//
//	go run ./tools/pgqueuebench -jobs 20000 -concurrency 5 -rounds 3
//
// It lives in a module of its own so that River is a dependency of this
// tool only, not of the framework.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	pgdb "github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/queue/postgres"
	"github.com/tipbox/tipbox/adapters/queue/postgres/migrations"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
)

func main() {
	admin := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"an existing database to create the bench databases from")
	jobs := flag.Int("jobs", 20000, "jobs per round")
	conc := flag.Int("concurrency", 5, "jobs run at once by the draining process")
	rounds := flag.Int("rounds", 3, "rounds per system (alternating)")
	flag.Parse()
	if err := run(*admin, *jobs, *conc, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "pgqueuebench:", err)
		os.Exit(1)
	}
}

type result struct{ enqueue, drain time.Duration }

func run(admin string, n, conc, rounds int) error {
	ctx := context.Background()
	// River with its defaults drains at about MaxWorkers jobs per 100 ms:
	// it gets at most 1000 jobs, or its rounds would take minutes.
	systems := []struct {
		name string
		fn   func(ctx context.Context, dsn string, n, conc int) (result, error)
		max  int
	}{{"tipbox-postgres", benchTipbox, n}, {"river", benchRiver(0), min(n, 1000)}, {"river-cool-1ms", benchRiver(time.Millisecond), n}}
	results := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, s := range systems {
			dsn, drop, err := createDB(ctx, admin, fmt.Sprintf("pgqb_%d_%d_%s", os.Getpid(), r, strings.ReplaceAll(s.name, "-", "_")))
			if err != nil {
				return err
			}
			res, err := s.fn(ctx, dsn, s.max, conc)
			drop()
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			results[s.name] = append(results[s.name], res)
			fmt.Printf("round %d %-16s %6d jobs: enqueue %6.0f jobs/s  drain c=%d %6.0f jobs/s\n", r+1, s.name, s.max,
				float64(s.max)/res.enqueue.Seconds(), conc, float64(s.max)/res.drain.Seconds())
		}
	}
	fmt.Printf("\nmedian of %d rounds, concurrency %d:\n", rounds, conc)
	for _, s := range systems {
		rs := results[s.name]
		enq := median(rs, func(r result) time.Duration { return r.enqueue })
		dr := median(rs, func(r result) time.Duration { return r.drain })
		fmt.Printf("%-16s %6d jobs: bulk enqueue %7.0f jobs/s   drain %7.0f jobs/s\n", s.name, s.max,
			float64(s.max)/enq.Seconds(), float64(s.max)/dr.Seconds())
	}
	return nil
}

func median(rs []result, f func(result) time.Duration) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = f(r)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// createDB creates a database and returns its DSN and how to drop it.
func createDB(ctx context.Context, admin, name string) (string, func(), error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, err
	}
	drop := func() {
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	}
	i := strings.LastIndex(admin, "/")
	rest := ""
	if q := strings.Index(admin[i:], "?"); q >= 0 {
		rest = admin[i+q:]
	}
	return admin[:i+1] + name + rest, drop, nil
}

const batch = 1000

func benchTipbox(ctx context.Context, dsn string, n, conc int) (result, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := pgdb.Open(ctx, database.Config{DSN: dsn}, log)
	if err != nil {
		return result{}, err
	}
	defer db.Close()
	if err := database.Migrate(ctx, db, []database.Migrations{{Module: "queue_postgres", FS: migrations.FS}}, log); err != nil {
		return result{}, err
	}
	cfg := queue.Config{Queues: []string{"bench"}, Concurrency: conc}
	cfg.SetDefaults()
	b, err := postgres.New(db.DB, cfg, nil, log)
	if err != nil {
		return result{}, err
	}
	defer b.Close()
	client, err := queue.NewClient(cfg, b, log, nil)
	if err != nil {
		return result{}, err
	}
	var res result
	t0 := time.Now()
	for i := 0; i < n; i += batch {
		js := make([]queue.NewJob, min(batch, n-i))
		for k := range js {
			js[k] = queue.NewJob{Name: "noop", Payload: map[string]int{"n": i + k}}
		}
		if _, err := client.EnqueueBulk(ctx, "bench", js); err != nil {
			return result{}, err
		}
	}
	res.enqueue = time.Since(t0)
	var done atomic.Int64
	finished := make(chan struct{})
	w, err := queue.NewWorker(cfg, b, []queue.Handler{{Queue: "bench", Name: "noop", Handle: func(context.Context, *queue.Job) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	}}}, log, nil)
	if err != nil {
		return result{}, err
	}
	t0 = time.Now()
	if err := w.Start(ctx); err != nil {
		return result{}, err
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		return result{}, fmt.Errorf("drain: %d of %d after 10 minutes", done.Load(), n)
	}
	res.drain = time.Since(t0)
	stop, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return res, w.Stop(stop)
}

type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	done     *atomic.Int64
	n        int64
	finished chan struct{}
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	if w.done.Add(1) == w.n {
		close(w.finished)
	}
	return nil
}

// benchRiver runs River with its default configuration, or with a
// shorter FetchCooldown (River fetches at most once per cooldown, 100 ms
// by default, which caps a queue at MaxWorkers jobs per cooldown).
func benchRiver(cooldown time.Duration) func(ctx context.Context, dsn string, n, conc int) (result, error) {
	return func(ctx context.Context, dsn string, n, conc int) (result, error) {
		return runRiver(ctx, dsn, n, conc, cooldown)
	}
}

func runRiver(ctx context.Context, dsn string, n, conc int, cooldown time.Duration) (result, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return result{}, err
	}
	defer pool.Close()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return result{}, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return result{}, err
	}
	var done atomic.Int64
	worker := &noopWorker{done: &done, n: int64(n), finished: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: conc}},
		Workers:       workers,
		FetchCooldown: cooldown,
	})
	if err != nil {
		return result{}, err
	}
	var res result
	t0 := time.Now()
	for i := 0; i < n; i += batch {
		ps := make([]river.InsertManyParams, min(batch, n-i))
		for k := range ps {
			ps[k] = river.InsertManyParams{Args: noopArgs{N: i + k}}
		}
		if _, err := client.InsertMany(ctx, ps); err != nil {
			return result{}, err
		}
	}
	res.enqueue = time.Since(t0)
	t0 = time.Now()
	if err := client.Start(ctx); err != nil {
		return result{}, err
	}
	select {
	case <-worker.finished:
	case <-time.After(10 * time.Minute):
		return result{}, fmt.Errorf("drain: %d of %d after 10 minutes", done.Load(), n)
	}
	res.drain = time.Since(t0)
	stop, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return res, client.Stop(stop)
}
