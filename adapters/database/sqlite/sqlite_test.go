package sqlite_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/database"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t testing.TB, dsn string) *database.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), database.Config{Driver: "sqlite", DSN: dsn}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesDirectoryAndSetsPragmas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "app.db")
	db := open(t, "file:"+path)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
	// Every pooled connection has the pragmas, not just the first one: hold
	// several connections at once and ask each.
	for i, c := range holdConns(t, db.DB, 3) {
		for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1"} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("connection %d: %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
}

func TestInMemoryIsOneDatabase(t *testing.T) {
	t.Parallel()
	db := open(t, ":memory:")
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := db.ExecContext(t.Context(), `INSERT INTO t (x) VALUES (1)`); err != nil {
				t.Errorf("insert: %v", err) // "no such table" if a second connection opened its own database
			}
		})
	}
	wg.Wait()
}

// TestConcurrentWritersDoNotGetBusy runs read-modify-write transactions and
// plain inserts from many goroutines on two pools (two processes, as far as
// SQLite can tell) on one file. None may fail with SQLITE_BUSY, and no
// increment may be lost.
func TestConcurrentWritersDoNotGetBusy(t *testing.T) {
	t.Parallel()
	dsn := "file:" + filepath.Join(t.TempDir(), "busy.db")
	pools := []*database.DB{open(t, dsn), open(t, dsn)}
	ctx := t.Context()
	if _, err := pools[0].ExecContext(ctx, `CREATE TABLE counter (n INTEGER NOT NULL);
		INSERT INTO counter (n) VALUES (0);
		CREATE TABLE log (pool INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 40
	var wg sync.WaitGroup
	for p, db := range pools {
		for range goroutines {
			wg.Go(func() {
				for range each {
					err := db.InTx(ctx, func(tx *sql.Tx) error {
						var n int
						if err := tx.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1`, n+1)
						return err
					})
					if err != nil {
						t.Errorf("transaction: %v", err)
						return
					}
					if _, err := db.ExecContext(ctx, `INSERT INTO log (pool) VALUES ($1)`, p); err != nil {
						t.Errorf("insert: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	var n, logged int
	if err := pools[1].QueryRowContext(ctx, `SELECT (SELECT n FROM counter), (SELECT COUNT(*) FROM log)`).Scan(&n, &logged); err != nil {
		t.Fatal(err)
	}
	if want := len(pools) * goroutines * each; n != want || logged != want {
		t.Errorf("counter = %d, log = %d; want %d each", n, logged, want)
	}
}

// Processes that open a new database file at the same moment (an API and a
// worker starting together) all get connections: a connection whose
// pragmas (the switch to WAL) meet another's lock waits and retries instead
// of failing with SQLITE_BUSY, which SQLite returns there without waiting
// for busy_timeout. It failed within 3 rounds under the race detector
// before the connector retried.
func TestPoolsOpeningANewFileAtOnce(t *testing.T) {
	t.Parallel()
	for round := range 30 {
		dsn := "file:" + filepath.Join(t.TempDir(), "new.db")
		var wg sync.WaitGroup
		for p := range 4 {
			wg.Go(func() {
				db := open(t, dsn)
				err := db.InTx(context.Background(), func(tx *sql.Tx) error {
					_, err := tx.Exec(`CREATE TABLE IF NOT EXISTS t (x INTEGER)`)
					return err
				})
				if err != nil {
					t.Errorf("round %d, pool %d: %v", round, p, err)
				}
			})
		}
		wg.Wait()
	}
}

// TestWritersQueueInTheProcess: the writers of one pool wait for one
// another in Go, not in SQLite's busy handler, whose retries sleep 1, 2,
// 5, 10… ms (a writer that lost the race for the lock waited 8–18 ms
// where the lock was free again within a millisecond). With busy_timeout
// 0, any writer that met the lock inside SQLite would fail with
// SQLITE_BUSY at once: none may, for transactions, plain statements and
// INSERT … RETURNING read as rows.
func TestWritersQueueInTheProcess(t *testing.T) {
	t.Parallel()
	db := open(t, "file:"+filepath.Join(t.TempDir(), "gate.db")+"?_pragma=busy_timeout(0)")
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE counter (n INTEGER NOT NULL);
		INSERT INTO counter (n) VALUES (0);
		CREATE TABLE log (id INTEGER PRIMARY KEY, g INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `UPDATE counter SET n = n + 1`)
					return err
				})
				if err == nil {
					_, err = db.ExecContext(ctx, `INSERT INTO log (g) VALUES ($1)`, g)
				}
				if err == nil {
					var id int64
					err = db.QueryRowContext(ctx, `INSERT INTO log (g) VALUES ($1) RETURNING id`, g).Scan(&id)
				}
				if err == nil {
					var n int
					err = db.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n)
				}
				if err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n, logged int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT n FROM counter), (SELECT COUNT(*) FROM log)`).Scan(&n, &logged); err != nil {
		t.Fatal(err)
	}
	if n != goroutines*each || logged != 2*goroutines*each {
		t.Errorf("counter = %d, log = %d; want %d and %d", n, logged, goroutines*each, 2*goroutines*each)
	}
}

// BenchmarkConcurrentWrites: 8 goroutines each running short read-write
// transactions (one UPDATE) and single INSERTs on one pool, a file
// database with the default pragmas; the p50 and p99 of one write.
func BenchmarkConcurrentWrites(b *testing.B) {
	db := open(b, "file:"+filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE counter (n INTEGER NOT NULL);
		INSERT INTO counter (n) VALUES (0);
		CREATE TABLE log (id INTEGER PRIMARY KEY, g INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	const goroutines = 8
	lat := make([][]time.Duration, goroutines)
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < b.N; i += goroutines {
				t0 := time.Now()
				var err error
				if i%2 == 0 {
					err = db.InTx(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, `UPDATE counter SET n = n + 1`)
						return err
					})
				} else {
					_, err = db.ExecContext(ctx, `INSERT INTO log (g) VALUES ($1)`, g)
				}
				if err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100])/1e3, "p99-µs")
	b.ReportMetric(float64(all[len(all)-1])/1e3, "max-µs")
}

// holdConns takes n connections of db's pool at once (so they are n
// different ones), given back when the test ends.
func holdConns(t *testing.T, db *sql.DB, n int) []*sql.Conn {
	t.Helper()
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	return conns
}
