// Package postgres is the PostgreSQL queue driver ("postgres"): job
// records in the application's own database (schema tipbox_queue), claimed
// with FOR UPDATE SKIP LOCKED, with LISTEN/NOTIFY for wake-ups. Because the
// jobs live next to the application's tables, a job can be enqueued inside
// the caller's transaction (EnqueueTx): it exists exactly when that
// transaction commits.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tipbox/tipbox/core/queue"
)

// Channels of the notifications: a queue's name when it may have a job
// due, "<queue> <job id>" when an admin cancels an active job.
const (
	chanJobs   = "tipbox_queue"
	chanCancel = "tipbox_queue_cancel"
)

// DedupWindow is how long a WithJobID id stays taken after its job is gone.
const DedupWindow = 24 * time.Hour

// Backend is the PostgreSQL queue.Backend. A delivery's lease is ten
// queue.heartbeat intervals: an active job whose worker has not
// heartbeated for that long is taken back by any process's Run.
type Backend struct {
	db         *sql.DB
	cfg        queue.Config
	obs        queue.Observer
	logger     *slog.Logger
	now        func() time.Time
	origin     string // tells this process's notifications apart
	limits     map[string]queue.Limit
	groupLimit queue.Limit

	mu        sync.Mutex
	listening bool
	wake      map[string]*waker
	cancels   queue.CancelHub
	stop      context.CancelFunc
	done      chan struct{}
}

// waker is one queue's wake-up state: gen counts the notifications, seen
// is gen when the last Fetch started, c is closed at the next one;
// grouped says the last claim found groups.
type waker struct {
	gen, seen uint64
	fetchedAt time.Time
	c         chan struct{}
	grouped   bool
}

var (
	_ queue.Backend        = (*Backend)(nil)
	_ queue.TxProducer     = (*Backend)(nil)
	_ queue.Maintainer     = (*Backend)(nil)
	_ queue.CancelNotifier = (*Backend)(nil)
	_ queue.Pinger         = (*Backend)(nil)
	_ io.Closer            = (*Backend)(nil)
)

// New returns a backend over db, whose schema must be migrated
// (migrations.FS). It starts listening for notifications; Close stops it
// (and leaves db open: the caller owns it).
func New(db *sql.DB, cfg queue.Config, obs queue.Observer, logger *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: queue config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{db: db, cfg: cfg, obs: obs, logger: logger, now: time.Now, origin: uuid.NewString(),
		limits: cfg.QueueLimits(), groupLimit: cfg.GroupLimits(), wake: map[string]*waker{}, done: make(chan struct{})}
	for _, q := range cfg.Queues {
		b.wake[q] = &waker{c: make(chan struct{})}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	go b.listen(ctx)
	return b, nil
}

// ensureQueues creates the queues' rows (and their ungrouped member of the
// round-robin) once per process.
func (b *Backend) ensureQueues(ctx context.Context) error {
	_, err := b.db.ExecContext(ctx, `
		WITH q AS (INSERT INTO tipbox_queue.queues (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING)
		INSERT INTO tipbox_queue.groups (queue, grp) SELECT unnest($1::text[]), '' ON CONFLICT DO NOTHING`, b.cfg.Queues)
	return err
}

// listen holds one connection LISTENing and wakes this process's waiters
// and cancellation subscribers. After a (re)connection every queue is
// woken: notifications sent while it was down are lost.
func (b *Backend) listen(ctx context.Context) {
	defer close(b.done)
	var lastErr string
	for ctx.Err() == nil {
		err := b.listenOnce(ctx)
		b.mu.Lock()
		b.listening = false
		b.mu.Unlock()
		if err != nil && err.Error() != lastErr && ctx.Err() == nil {
			b.logger.Warn("queue listener lost its connection; reconnecting", "error", err)
			lastErr = err.Error()
		}
		_ = sleep(ctx, 100*time.Millisecond, nil)
	}
}

func (b *Backend) listenOnce(ctx context.Context) error {
	if err := b.ensureQueues(ctx); err != nil {
		return err
	}
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+chanJobs+"; LISTEN "+chanCancel); err != nil {
			return errors.Join(err, driver.ErrBadConn)
		}
		b.mu.Lock()
		b.listening = true
		for q := range b.wake {
			b.bump(q)
		}
		b.mu.Unlock()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				// The connection is LISTENing (or broken): never reuse it.
				return errors.Join(err, driver.ErrBadConn)
			}
			q, rest, _ := strings.Cut(n.Payload, " ")
			if n.Channel == chanCancel { // "<queue> <job id>"
				b.cancels.Publish(q, rest)
				continue
			}
			// "<queue> <origin>" comes from a settlement, which woke its
			// own process already.
			b.mu.Lock()
			if _, ok := b.wake[q]; ok && rest != b.origin {
				b.bump(q)
			}
			b.mu.Unlock()
		}
	})
}

// bump wakes q's waiters; b.mu is held.
func (b *Backend) bump(q string) {
	w := b.wake[q]
	w.gen++
	close(w.c)
	w.c = make(chan struct{})
}

// Wait returns when a notification for q arrived since the last Fetch
// started, when the earliest job delayed at that Fetch falls due, after d,
// or when ctx ends.
func (b *Backend) Wait(ctx context.Context, q string, d time.Duration) error {
	b.mu.Lock()
	w, listening := b.wake[q], b.listening
	woken, c, since := w.gen != w.seen, w.c, w.fetchedAt
	b.mu.Unlock()
	if !listening { // no notification can arrive: poll
		return sleep(ctx, min(d, 50*time.Millisecond), nil)
	}
	if woken {
		return nil
	}
	var next sql.NullTime
	// Every job due later is stored delayed (a release is due at once).
	err := b.db.QueryRowContext(ctx, `SELECT min(run_at) FROM tipbox_queue.jobs
		WHERE queue = $1 AND state = 'delayed' AND run_at > $2`, q, since).Scan(&next)
	if err != nil {
		return sleep(ctx, min(d, 50*time.Millisecond), nil)
	}
	if next.Valid {
		d = min(d, next.Time.Sub(b.now()))
	}
	return sleep(ctx, d, c)
}

// sleep returns after d, when wake (nil: never) is closed, or when ctx
// ends.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Cancellations delivers the IDs of q's active jobs an admin cancels.
func (b *Backend) Cancellations(ctx context.Context, q string) <-chan string {
	return b.cancels.Subscribe(ctx, b.done, q)
}

// Ping checks the database.
func (b *Backend) Ping(ctx context.Context) error { return b.db.PingContext(ctx) }

// Close stops listening; the jobs stay stored and the pool open.
func (b *Backend) Close() error {
	b.stop() // a second Close finds the listener stopped
	<-b.done
	return nil
}

// dropped reports dead letters deleted by retention.
func (b *Backend) dropped(q string, n int, reason string) {
	if n == 0 {
		return
	}
	b.logger.Warn("dead-lettered jobs dropped by retention", "queue", q, "count", n, "reason", reason)
	if b.obs != nil {
		b.obs.DeadDropped(q, n, reason)
	}
}
