package database_test

import (
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/database"
)

// migrationFS gives both dialects the same files (the SQL here is portable).
func migrationFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys["sqlite/"+name] = &fstest.MapFile{Data: []byte(body)}
		fsys["postgres/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

var widgetFiles = map[string]string{
	"001_create.sql": `CREATE TABLE widgets (id BIGINT PRIMARY KEY, name TEXT NOT NULL);
		CREATE TABLE runs (file TEXT NOT NULL);
		INSERT INTO runs (file) VALUES ('001');`,
	"002_seed.sql": `INSERT INTO widgets (id, name) VALUES (1, 'a');
		INSERT INTO runs (file) VALUES ('002');`,
	"README.md": "not a migration",
}

func count(t *testing.T, db *database.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateAppliesOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		db := b.connect(t, dsn)
		sets := []database.Migrations{
			{Module: "widgets", FS: migrationFS(widgetFiles)},
			{Module: "other", FS: migrationFS(map[string]string{"001_x.sql": `CREATE TABLE other_x (id BIGINT)`})},
		}
		for run := range 3 {
			if err := database.Migrate(t.Context(), db, sets, discard()); err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM runs`); n != 2 {
			t.Errorf("files ran %d times in all, want 2", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE module = $1`, "widgets"); n != 2 {
			t.Errorf("widgets rows in schema_migrations = %d, want 2", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE module = $1 AND version = $2 AND name = $3`, "other", 1, "x"); n != 1 {
			t.Errorf("other/001_x not recorded")
		}

		// A file added later is applied alone.
		files := maps.Clone(widgetFiles)
		files["003_more.sql"] = `INSERT INTO runs (file) VALUES ('003')`
		sets[0].FS = migrationFS(files)
		if err := database.Migrate(t.Context(), db, sets, discard()); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM runs`); n != 3 {
			t.Errorf("after adding 003: %d runs, want 3", n)
		}
	})
}

func TestMigrateFailureRollsBackThatFile(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		db := b.connect(t, dsn)
		sets := []database.Migrations{{Module: "broken", FS: migrationFS(map[string]string{
			"001_ok.sql":  `CREATE TABLE ok_table (id BIGINT)`,
			"002_bad.sql": `CREATE TABLE half_done (id BIGINT); INSERT INTO no_such_table VALUES (1);`,
			"003_not.sql": `CREATE TABLE never (id BIGINT)`,
		})}}
		err := database.Migrate(t.Context(), db, sets, discard())
		if err == nil || !strings.Contains(err.Error(), "broken/"+b.name+"/002_bad") {
			t.Fatalf("err = %v, want it to name broken/%s/002_bad", err, b.name)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); n != 1 {
			t.Errorf("schema_migrations has %d rows, want 1 (001 only)", n)
		}
		for _, table := range []string{"half_done", "never"} {
			if _, err := db.ExecContext(t.Context(), `SELECT 1 FROM `+table); err == nil {
				t.Errorf("table %s exists; the failed file was not rolled back or 003 ran", table)
			}
		}
	})
}

// TestMigrateConcurrently starts several "processes" (pools of their own)
// migrating one database at once: every file must run exactly once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		const processes = 4
		sets := []database.Migrations{{Module: "widgets", FS: migrationFS(widgetFiles)}}
		dbs := make([]*database.DB, processes)
		for i := range dbs {
			dbs[i] = b.connect(t, dsn)
		}
		var wg sync.WaitGroup
		errs := make([]error, processes)
		for i, db := range dbs {
			wg.Go(func() { errs[i] = database.Migrate(t.Context(), db, sets, discard()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("process %d: %v", i, err)
			}
		}
		if n := count(t, dbs[0], `SELECT COUNT(*) FROM runs`); n != 2 {
			t.Errorf("files ran %d times in all, want 2", n)
		}
	})
}

func TestMigrateRejectsMalformedSets(t *testing.T) {
	t.Parallel()
	// load fails before the database is touched, so no connection is needed.
	db := &database.DB{Dialect: sqlite.Dialect{}}
	file := &fstest.MapFile{Data: []byte("SELECT 1")}
	for name, sets := range map[string][]database.Migrations{
		"bad name":          {{Module: "m", FS: fstest.MapFS{"sqlite/first.sql": file}}},
		"no description":    {{Module: "m", FS: fstest.MapFS{"sqlite/001.sql": file}}},
		"duplicate version": {{Module: "m", FS: fstest.MapFS{"sqlite/001_a.sql": file, "sqlite/1_b.sql": file}}},
		"no dialect dir":    {{Module: "m", FS: fstest.MapFS{"postgres/001_a.sql": file}}},
		"module twice":      {{Module: "m", FS: fstest.MapFS{"sqlite/001_a.sql": file}}, {Module: "m", FS: fstest.MapFS{"sqlite/001_a.sql": file}}},
		"no module name":    {{FS: fstest.MapFS{"sqlite/001_a.sql": file}}},
	} {
		if err := database.Migrate(t.Context(), db, sets, discard()); !errors.Is(err, database.ErrMigration) {
			t.Errorf("%s: err = %v, want ErrMigration", name, err)
		}
	}
}
