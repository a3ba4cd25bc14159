package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"time"
)

// writeGate lets one connection of a pool write at a time, in the order the
// writers came, so that the pool's writers queue in Go instead of inside
// SQLite. SQLite's busy handler retries a writer that found the file's
// write lock taken after 1, 2, 5, 10, 15… ms of sleep, whether the lock
// was freed after 50 µs or not: with a few concurrent writers (a grant's
// transaction, the inbox insert of its notification) one in a hundred
// writes waited 8–18 ms for a lock that was free within a millisecond.
//
// What holds the gate: a read-write transaction from BEGIN to COMMIT or
// ROLLBACK, and a statement outside a transaction that may write (anything
// but SELECT, VALUES, EXPLAIN and PRAGMA) until it is done (for a query,
// until its rows are closed). Read-only transactions and plain SELECTs
// never wait for it: WAL lets them run beside the writer.
//
// Other processes on the same file (and other pools in this one) are not
// covered: against them the busy handler still applies. A writer that has
// waited gateWait for the gate goes on without it (SQLite's busy_timeout
// then decides), so a caller that writes through the pool while it holds a
// transaction of its own gets an error, as it did before, and no deadlock.
//
// It is a sync.Mutex, not a FIFO: a writer that finds it free takes it at
// once, even while others are waking up to take it (Go's mutex lets a
// running goroutine in ahead of a woken one, and turns FIFO for a waiter
// that waited over a millisecond). Measured with FIFO hand-off (a channel)
// instead, the lock stood idle while each next writer was being scheduled,
// and a grant's POST p99 grew on the busy 2-core machine.
type writeGate struct {
	mu   sync.Mutex
	wait time.Duration // how long a writer waits before it goes on without
}

const gateWait = 5 * time.Second

// enter takes the gate; held is false when it went on without it.
func (g *writeGate) enter(ctx context.Context) (held bool, err error) {
	if g.mu.TryLock() {
		return true, nil
	}
	got := make(chan struct{})
	go func() {
		g.mu.Lock()
		close(got)
	}()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case <-got:
		return true, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
	}
	// Gave up: the Lock above still completes; give the gate straight back.
	go func() {
		<-got
		g.mu.Unlock()
	}()
	return false, err
}

func (g *writeGate) leave(held bool) {
	if held {
		g.mu.Unlock()
	}
}

// mayWrite reports whether a statement outside a transaction may write:
// conservatively, anything that does not start with a read-only keyword.
func mayWrite(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for _, kw := range [...]string{"SELECT", "VALUES", "EXPLAIN", "PRAGMA"} {
		if len(q) >= len(kw) && strings.EqualFold(q[:len(kw)], kw) {
			return false
		}
	}
	return true
}

// gatedConn is a connection of a pool with a writeGate. database/sql uses
// one connection from one goroutine at a time, so inTx needs no lock.
type gatedConn struct {
	conn interface {
		driver.Conn
		driver.ConnBeginTx
		driver.ExecerContext
		driver.QueryerContext
		driver.ConnPrepareContext
	}
	gate  *writeGate
	inTx  bool
	stmts *stmtCache
	ckpt  *checkpointer // nil: SQLite checkpoints by itself
}

var (
	_ driver.ConnBeginTx        = (*gatedConn)(nil)
	_ driver.ExecerContext      = (*gatedConn)(nil)
	_ driver.QueryerContext     = (*gatedConn)(nil)
	_ driver.ConnPrepareContext = (*gatedConn)(nil)
	_ driver.Pinger             = (*gatedConn)(nil)
	_ driver.SessionResetter    = (*gatedConn)(nil)
	_ driver.Validator          = (*gatedConn)(nil)
)

// errNoContextAPI: the wrapped driver lacks the context methods the gate
// needs (modernc.org/sqlite has them all).
var errNoContextAPI = errors.New("sqlite: driver connection without the context API")

func newGatedConn(c driver.Conn, gate *writeGate, ckpt *checkpointer) (driver.Conn, error) {
	cc, ok := c.(interface {
		driver.Conn
		driver.ConnBeginTx
		driver.ExecerContext
		driver.QueryerContext
		driver.ConnPrepareContext
	})
	if !ok {
		_ = c.Close()
		return nil, errNoContextAPI
	}
	return &gatedConn{conn: cc, gate: gate, stmts: newStmtCache(), ckpt: ckpt}, nil
}

// wrote tells the checkpointer what the write that just ended added to
// the WAL. It runs on the connection's goroutine, after the gate is left.
func (c *gatedConn) wrote() {
	if c.ckpt == nil {
		return
	}
	if n := pagesWritten(c.conn); n > 0 {
		c.ckpt.wrote(n)
	}
}

func (c *gatedConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }

// Close finalizes the cached statements, then closes the connection.
func (c *gatedConn) Close() error {
	c.stmts.close()
	return c.conn.Close()
}

// Begin is not used by database/sql when BeginTx exists.
func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// PrepareContext hands out statements that do not take the gate: nothing
// in this repository calls database/sql's Prepare (the connection's
// statement cache prepares its own, and runs them behind the gate); a
// caller that does is back to SQLite's busy handler for them.
func (c *gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn.PrepareContext(ctx, query)
}

func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly {
		tx, err := c.conn.BeginTx(ctx, opts)
		if err == nil {
			c.inTx = true
			tx = &gatedTx{Tx: tx, c: c}
		}
		return tx, err
	}
	held, err := c.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.conn.BeginTx(ctx, opts)
	if err != nil {
		c.gate.leave(held)
		return nil, err
	}
	c.inTx = true
	return &gatedTx{Tx: tx, c: c, held: held}, nil
}

func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.inTx || !mayWrite(query) {
		return c.stmts.exec(ctx, c.conn, query, args)
	}
	held, err := c.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.stmts.exec(ctx, c.conn, query, args)
	c.gate.leave(held)
	c.wrote()
	return res, err
}

func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.inTx || !mayWrite(query) {
		return c.stmts.query(ctx, c.conn, query, args)
	}
	held, err := c.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.stmts.query(ctx, c.conn, query, args)
	if err != nil {
		c.gate.leave(held)
		return nil, err
	}
	return &gatedRows{Rows: rows, c: c, held: held}, nil
}

func (c *gatedConn) Ping(ctx context.Context) error {
	if p, ok := c.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *gatedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *gatedConn) IsValid() bool {
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// gatedTx gives the gate back when the transaction ends, however it ends.
type gatedTx struct {
	driver.Tx
	c    *gatedConn
	held bool
}

func (t *gatedTx) Commit() error {
	defer t.end()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.end()
	return t.Tx.Rollback()
}

func (t *gatedTx) end() {
	t.c.inTx = false
	t.c.gate.leave(t.held)
	t.held = false
	t.c.wrote()
}

// gatedRows gives the gate back when the rows are closed (database/sql
// closes them on every path, Scan of a QueryRow included).
type gatedRows struct {
	driver.Rows
	c    *gatedConn
	held bool
}

func (r *gatedRows) Close() error {
	err := r.Rows.Close()
	r.c.gate.leave(r.held)
	r.held = false
	r.c.wrote()
	return err
}
