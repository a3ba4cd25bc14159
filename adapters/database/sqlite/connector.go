package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// connectBudget bounds how long opening one connection keeps retrying a
// busy database: the default busy_timeout, which a statement would wait.
const connectBudget = 5 * time.Second

// connector opens connections with the package's driver and retries an
// open that fails with SQLITE_BUSY. Opening runs the DSN's pragmas, and
// the switch of a new file to WAL needs an exclusive lock that SQLite does
// not wait for (busy_timeout does not apply there): connections of
// several processes opening one new file at once would otherwise fail.
//
// Every connection it opens shares the pool's writeGate and, for a file
// database, its checkpointer (closed with the pool: database/sql calls
// Close on a connector that has one).
type connector struct {
	dsn  string
	drv  *sqlite.Driver
	gate *writeGate
	ckpt *checkpointer // nil: SQLite checkpoints by itself
}

func (c connector) Driver() driver.Driver { return c.drv }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	return newGatedConn(conn, c.gate, c.ckpt)
}

// Close stops the checkpointer.
func (c connector) Close() error {
	if c.ckpt != nil {
		c.ckpt.close()
	}
	return nil
}

// open opens a connection of the driver, without the gate.
func (c connector) open(ctx context.Context) (driver.Conn, error) {
	deadline := time.Now().Add(connectBudget)
	wait := 2 * time.Millisecond
	for {
		conn, err := c.drv.Open(c.dsn)
		if err == nil {
			return conn, nil
		}
		if !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}
