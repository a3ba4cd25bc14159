package database_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/database"
)

// The module opens warm_conns connections at start, after migrations, and
// leaves them idle in the pool; on PostgreSQL each has planned a read of
// every table (the last statement its backend ran).
func TestModuleWarmsConnections(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		var db *database.DB
		a := app(t, "database:\n  driver: "+b.name+"\n  dsn: \""+dsn+"\"\n  max_open_conns: 4\n  warm_conns: 3\n", fx.Populate(&db))
		a.RequireStart()
		defer a.RequireStop()
		if st := db.Stats(); st.OpenConnections != 3 || st.Idle != 3 {
			t.Fatalf("after start: %d open, %d idle; want 3 and 3", st.OpenConnections, st.Idle)
		}
		if b.name != "postgres" {
			return
		}
		// This query takes one of the three; the other two show what they ran last.
		rows, err := db.QueryContext(t.Context(), `SELECT query FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var last []string
		for rows.Next() {
			var q string
			if err := rows.Scan(&q); err != nil {
				t.Fatal(err)
			}
			last = append(last, q)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		warmed := 0
		for _, q := range last {
			if strings.HasPrefix(q, "EXPLAIN SELECT * FROM ") {
				warmed++
			}
		}
		if warmed != 2 {
			t.Fatalf("the other backends last ran %q; want two warm-ups (EXPLAIN SELECT * FROM …)", last)
		}
	})
}

// Warm never asks for more connections than the pool allows (it would wait
// forever for one), and warms nothing when asked for none.
func TestWarmIsCappedByThePool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		db := b.connect(t, dsn)
		db.SetMaxOpenConns(2)
		db.SetMaxIdleConns(2)
		if n, err := db.Warm(t.Context(), 5); err != nil || n != 2 {
			t.Fatalf("Warm(5) on a pool of 2: %d, %v; want 2, nil", n, err)
		}
		if st := db.Stats(); st.Idle != 2 || st.InUse != 0 {
			t.Fatalf("after Warm: %d idle, %d in use; want 2 and 0", st.Idle, st.InUse)
		}
		if n, err := db.Warm(t.Context(), 0); err != nil || n != 0 {
			t.Fatalf("Warm(0): %d, %v", n, err)
		}
	})
}

func TestWarmConnsValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  database.Config
		want string
	}{
		{database.Config{Driver: "sqlite", DSN: "x", WarmConns: -1}, "warm_conns: must not be negative"},
		{database.Config{Driver: "sqlite", DSN: "x", WarmConns: 5, MaxOpenConns: 4}, "warm_conns: 5 is more than max_open_conns (4)"},
		{database.Config{Driver: "sqlite", DSN: "x", WarmConns: 5, MaxIdleConns: 2}, "warm_conns: 5 is more than max_idle_conns (2)"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.cfg, err, tc.want)
		}
	}
	ok := database.Config{Driver: "sqlite", DSN: "x", WarmConns: 4, MaxOpenConns: 4}
	if err := ok.Validate(); err != nil {
		t.Errorf("warm_conns = max_open_conns: %v", err)
	}
}
