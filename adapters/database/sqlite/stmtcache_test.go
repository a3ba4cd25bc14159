package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/database"
)

func openFile(t testing.TB) *database.DB {
	t.Helper()
	db, err := Open(context.Background(), database.Config{Driver: Name, DSN: filepath.Join(t.TempDir(), "t.db")},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// cached returns the SQL texts a connection of db keeps prepared, after
// running fn on that connection.
func cached(t *testing.T, db *database.DB, fn func(c *sql.Conn)) map[string]bool {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fn(c)
	out := map[string]bool{}
	if err := c.Raw(func(dc any) error {
		for text := range dc.(*gatedConn).stmts.byText {
			out[text] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustExec(t *testing.T, c interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := c.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestStatementsStayPreparedAcrossCalls(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	const ins, sel = `INSERT INTO t (k, v) VALUES ($1, $2)`, `SELECT v FROM t WHERE k = $1`
	got := cached(t, db, func(c *sql.Conn) {
		mustExec(t, c, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		for i := range 50 {
			mustExec(t, c, ins, i, fmt.Sprintf("v%d", i))
		}
		for i := range 50 {
			var v string
			if err := c.QueryRowContext(ctx, sel, i).Scan(&v); err != nil || v != fmt.Sprintf("v%d", i) {
				t.Fatalf("row %d: %q, %v", i, v, err)
			}
		}
	})
	if !got[ins] || !got[sel] {
		t.Fatalf("cached statements %v; want the INSERT and the SELECT", got)
	}
}

// A query run again while rows of the first are still open (inside a
// transaction, where database/sql allows it) gets a statement of its own.
func TestBusyStatementRunsUncached(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
	for i := range 10 {
		mustExec(t, db, `INSERT INTO t (k, v) VALUES ($1, $2)`, i, fmt.Sprintf("v%d", i))
	}
	const sel = `SELECT k FROM t WHERE k >= $1 ORDER BY k`
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		outer, err := tx.QueryContext(ctx, sel, 5)
		if err != nil {
			return err
		}
		defer outer.Close()
		var ks []int
		for outer.Next() {
			var k int
			if err := outer.Scan(&k); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+sel+`)`, k).Scan(&n); err != nil {
				return err
			}
			inner, err := tx.QueryContext(ctx, sel, k)
			if err != nil {
				return err
			}
			m := 0
			for inner.Next() {
				m++
			}
			if err := inner.Close(); err != nil {
				return err
			}
			if m != 10-k || n != m {
				return fmt.Errorf("k=%d: inner query saw %d rows, count %d; want %d", k, m, n, 10-k)
			}
			ks = append(ks, k)
		}
		if err := outer.Err(); err != nil {
			return err
		}
		if fmt.Sprint(ks) != "[5 6 7 8 9]" {
			return fmt.Errorf("outer rows %v", ks)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCachedStatementSeesSchemaChanges(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	cached(t, db, func(c *sql.Conn) {
		mustExec(t, c, `CREATE TABLE t (a INTEGER)`)
		mustExec(t, c, `INSERT INTO t (a) VALUES (1)`)
		cols := func() int {
			rows, err := c.QueryContext(ctx, `SELECT * FROM t`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			names, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			return len(names)
		}
		if n := cols(); n != 1 {
			t.Fatalf("%d columns before ALTER", n)
		}
		mustExec(t, c, `ALTER TABLE t ADD COLUMN b TEXT`)
		if n := cols(); n != 2 {
			t.Fatalf("%d columns after ALTER; want 2", n)
		}
	})
}

func TestFailedStatementStaysUsable(t *testing.T) {
	db := openFile(t)
	const ins = `INSERT INTO t (k) VALUES ($1)`
	got := cached(t, db, func(c *sql.Conn) {
		mustExec(t, c, `CREATE TABLE t (k INTEGER PRIMARY KEY)`)
		mustExec(t, c, ins, 1)
		if _, err := c.ExecContext(context.Background(), ins, 1); err == nil {
			t.Fatal("duplicate key inserted")
		} else if _, ok := (Dialect{}).IsUniqueViolation(err); !ok {
			t.Fatalf("duplicate key: %v; want a unique violation", err)
		}
		mustExec(t, c, ins, 2)
		var n int
		if err := c.QueryRowContext(context.Background(), `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("count %d, %v", n, err)
		}
	})
	if !got[ins] {
		t.Fatal("the INSERT is not cached")
	}
}

func TestStatementCacheIsBoundedAndSkipsScripts(t *testing.T) {
	db := openFile(t)
	const script = `CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER);`
	got := cached(t, db, func(c *sql.Conn) {
		mustExec(t, c, script)
		for i := range stmtCacheSize + 50 {
			var n int
			if err := c.QueryRowContext(context.Background(), fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil || n != i {
				t.Fatalf("SELECT %d: %d, %v", i, n, err)
			}
		}
		mustExec(t, c, `INSERT INTO b (y) VALUES (1)`)
	})
	if len(got) > stmtCacheSize {
		t.Fatalf("%d statements cached; want at most %d", len(got), stmtCacheSize)
	}
	if got[script] {
		t.Fatal("a script was cached")
	}
	if !got[`SELECT `+fmt.Sprint(stmtCacheSize+49)] || got[`SELECT 0`] {
		t.Fatal("the cache did not keep the most recent statements")
	}
}

// BenchmarkReadByKey is a profile-like read by primary key, its SQL the
// same every call (what the statement cache serves from a prepared
// statement).
func BenchmarkReadByKey(b *testing.B) {
	db := openFile(b)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, email TEXT NOT NULL,
		display_name TEXT NOT NULL DEFAULT '', bio TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, username, email, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
			i, fmt.Sprintf("user%d", i), fmt.Sprintf("u%d@example.com", i), i); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		var id, created, updated int64
		var username, email, name, bio string
		if err := db.QueryRowContext(ctx, `SELECT id, username, email, display_name, bio, created_at, updated_at
			FROM users WHERE id = $1`, i%1000).Scan(&id, &username, &email, &name, &bio, &created, &updated); err != nil {
			b.Fatal(err)
		}
	}
}

// A cached statement whose call the context ends (SQLite interrupts it)
// serves the next call with the same text.
func TestInterruptedStatementStaysUsable(t *testing.T) {
	db := openFile(t)
	const q = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) SELECT count(*) FROM c`
	got := cached(t, db, func(c *sql.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var n int64
		if err := c.QueryRowContext(ctx, q, int64(1)<<60).Scan(&n); err == nil {
			t.Fatalf("counted to %d before the deadline; want the query interrupted", n)
		}
		if err := c.QueryRowContext(context.Background(), q, 1000).Scan(&n); err != nil || n != 1000 {
			t.Fatalf("after the interrupted call: %d, %v; want 1000", n, err)
		}
	})
	if !got[q] {
		t.Fatal("the query is not cached")
	}
}
