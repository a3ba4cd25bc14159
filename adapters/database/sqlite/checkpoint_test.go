package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
)

// No commit on the pool checkpoints the WAL. SQLite's automatic checkpoint
// runs inside the COMMIT that takes the WAL past wal_autocheckpoint pages,
// while that writer still holds the pool's write gate: its syncs (several
// milliseconds) made every other writer of the pool wait. The pool's
// connections leave it to the checkpointer.
func TestPoolCommitsDoNotCheckpoint(t *testing.T) {
	t.Parallel()
	db := open(t, "file:"+filepath.Join(t.TempDir(), "ckpt.db"))
	for i, c := range holdConns(t, db.DB, 3) {
		var n int
		if err := c.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("connection %d: wal_autocheckpoint = %d, want 0 (its commits would checkpoint inside the write gate)", i, n)
		}
	}
}

// A DSN that sets wal_autocheckpoint keeps it: SQLite checkpoints as asked.
func TestDSNAutocheckpointIsKept(t *testing.T) {
	t.Parallel()
	db := open(t, "file:"+filepath.Join(t.TempDir(), "ckpt.db")+"?_pragma=wal_autocheckpoint(500)")
	var n int
	if err := db.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 500 {
		t.Errorf("wal_autocheckpoint = %d, want 500", n)
	}
}

// The WAL is still copied back and restarted: written far past the
// checkpoint threshold, one commit after another, it stays a few
// thresholds long.
func TestWALIsCheckpointedInTheBackground(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ckpt.db")
	db := open(t, "file:"+path)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE blob (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// About 10,000 pages of 4 KiB in 2,500 commits: ten checkpoint thresholds.
	for i := range 2500 {
		if _, err := db.ExecContext(ctx, `INSERT INTO blob (b) VALUES (randomblob(12000))`); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// 10,000 pages would be 40 MB; the file keeps the length of the
	// longest WAL it held.
	if st.Size() > 16<<20 {
		t.Errorf("WAL file %d bytes after ten thresholds of writes: not restarted", st.Size())
	}
}
