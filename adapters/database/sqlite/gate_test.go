package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/testenv"
)

// A writer that cannot get the gate in time goes on without it (and the
// gate stays usable); one whose context ends gets the context's error.
func TestWriteGateGivesUp(t *testing.T) {
	g := &writeGate{wait: 20 * time.Millisecond}
	held, err := g.enter(t.Context())
	if !held || err != nil {
		t.Fatalf("free gate: held %v, err %v", held, err)
	}
	if held, err := g.enter(t.Context()); held || err != nil {
		t.Fatalf("taken gate after its wait: held %v, err %v; want to go on without it", held, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if held, err := g.enter(ctx); held || err != context.Canceled {
		t.Fatalf("cancelled wait: held %v, err %v", held, err)
	}
	g.leave(true)
	// The abandoned waits took the gate and gave it back: it is free again.
	testenv.Eventually(t, 5*time.Second, g.mu.TryLock, "gate never freed after abandoned waits")
	g.mu.Unlock()
}

func TestMayWrite(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": false, "  select n FROM t": false, "(SELECT 1)": false, "VALUES (1)": false,
		"PRAGMA journal_mode": false, "explain query plan SELECT 1": false,
		"INSERT INTO t VALUES (1)": true, "UPDATE t SET n = 1": true, "DELETE FROM t": true,
		"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x": true, "CREATE TABLE t (n INT)": true, "": true,
	} {
		if got := mayWrite(q); got != want {
			t.Errorf("mayWrite(%q) = %v, want %v", q, got, want)
		}
	}
}
