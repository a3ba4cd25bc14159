package sqlite

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// checkpointPages is how many pages the pool's commits write to the WAL
// before the checkpointer copies the WAL into the database file: SQLite's
// own wal_autocheckpoint default.
const checkpointPages = 1000

// checkpointRetry is the pause after a checkpoint that failed.
const checkpointRetry = time.Second

// checkpointer copies a pool's WAL into the database file on a connection
// of its own, so that no commit of the pool does it.
//
// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
// past wal_autocheckpoint pages, after SQLite has released its write lock
// but while the committing writer still holds the pool's writeGate. It
// syncs the WAL (everything written since the last checkpoint: 3.5–5.7 ms
// at 500 badge grants/s on the 2-core test machine) and the database
// file, and every other writer of the pool waited for it, five times a
// second at that rate. So the pool's connections run with
// wal_autocheckpoint=0; each write counts the pages its connection wrote
// (DBStatusCacheWrite) and wakes the checkpointer past checkpointPages.
//
// It checkpoints in two passes. The first (PASSIVE) runs beside the
// writers and does nearly all the work, syncs included. Writers go on
// committing meanwhile, so it seldom ends with the whole WAL copied, and
// SQLite starts the WAL again from its beginning only after a checkpoint
// that copied all of it: under a steady write load the file would grow
// without end. The second pass holds the gate, so that no writer of the
// pool appends, and copies what the first left (the frames of a few
// milliseconds). A reader that keeps an old snapshot still stops both
// passes short, as it stopped the automatic checkpoint.
//
// Another process writing the same file runs its own pool and its own
// checkpointer; SQLite serializes checkpoints of one file itself.
type checkpointer struct {
	open func(ctx context.Context) (driver.Conn, error)
	gate *writeGate
	log  *slog.Logger

	pages atomic.Int64  // written to the WAL since the last wake-up
	wake  chan struct{} // capacity 1: a wake-up pending
	stop  context.CancelFunc
	done  chan struct{}
}

func newCheckpointer(open func(context.Context) (driver.Conn, error), gate *writeGate, log *slog.Logger) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{open: open, gate: gate, log: log, wake: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// wrote adds pages a commit wrote to the WAL and wakes the checkpointer
// past the threshold. It never blocks.
func (c *checkpointer) wrote(pages int) {
	if c.pages.Add(int64(pages)) < checkpointPages {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close stops the checkpointer and closes its connection. Closing the
// pool's last connection checkpoints what is left (SQLite does, whatever
// wal_autocheckpoint says).
func (c *checkpointer) close() {
	c.stop()
	<-c.done
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	var conn driver.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		if c.pages.Swap(0) < checkpointPages {
			continue
		}
		var err error
		if conn == nil {
			if conn, err = c.open(ctx); err != nil {
				conn = nil
			}
		}
		if err == nil {
			err = c.checkpoint(ctx, conn)
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("database: sqlite WAL checkpoint failed; retrying in a second", "err", err)
			if conn != nil {
				_ = conn.Close()
				conn = nil
			}
			// The pages stay counted: the first write after the pause wakes
			// it again.
			c.pages.Add(checkpointPages)
			t := time.NewTimer(checkpointRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// checkpoint runs the two passes. The second always runs: what a
// checkpoint reports copied is measured against the WAL as it was when
// the checkpoint began, so the first cannot tell whether writers appended
// meanwhile. With nothing left to copy, the second costs a lock or two
// and no sync.
func (c *checkpointer) checkpoint(ctx context.Context, conn driver.Conn) error {
	if err := walCheckpoint(ctx, conn); err != nil {
		return err
	}
	held, err := c.gate.enter(ctx)
	if err != nil {
		return err
	}
	defer c.gate.leave(held)
	return walCheckpoint(ctx, conn)
}

// walCheckpoint runs a PASSIVE checkpoint.
func walCheckpoint(ctx context.Context, conn driver.Conn) error {
	e, ok := conn.(driver.ExecerContext)
	if !ok {
		return errNoContextAPI
	}
	_, err := e.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)", nil)
	return err
}

// pagesWritten reads and resets the pages conn wrote since the last call;
// 0 when the driver does not tell.
func pagesWritten(conn driver.Conn) int {
	st, ok := conn.(sqlite.DBStatus)
	if !ok {
		return 0
	}
	n, _, err := st.Status(sqlite.DBStatusCacheWrite, true)
	if err != nil {
		return 0
	}
	return n
}
