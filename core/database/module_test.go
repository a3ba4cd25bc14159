package database_test

import (
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/health"
)

// app builds the database module as a program would, from a YAML profile.
func app(t *testing.T, yaml string, extra ...fx.Option) *fxtest.App {
	t.Helper()
	src, err := config.Parse("test.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := []fx.Option{
		fx.NopLogger,
		config.Module(src),
		fx.Supply(discard()),
		sqlite.Module,
		postgres.Module,
		health.Module,
		database.Module,
		database.AsMigrations("widgets", migrationFS(widgetFiles)),
	}
	return fxtest.New(t, append(opts, extra...)...)
}

func TestModuleOpensMigratesAndCloses(t *testing.T) {
	t.Parallel()
	dsn := "file:" + filepath.Join(t.TempDir(), "sub", "dir", "app.db") // the directory does not exist yet
	var db *database.DB
	var reg *health.Registry
	a := app(t, "database:\n  driver: sqlite\n  dsn: "+dsn+"\n", fx.Populate(&db, &reg))
	a.RequireStart()

	if n := count(t, db, `SELECT COUNT(*) FROM runs`); n != 2 {
		t.Errorf("migrations ran %d files, want 2", n)
	}
	report, ready := reg.Report(t.Context())
	if report["database"] != "up" || !ready {
		t.Errorf("readiness = %v, %v; want database up", report, ready)
	}

	a.RequireStop()
	if err := db.PingContext(t.Context()); err == nil {
		t.Error("pool still open after stop")
	}
	report, ready = reg.Report(t.Context())
	if report["database"] != "down" || ready {
		t.Errorf("after stop: readiness = %v, %v; want database down and not ready", report, ready)
	}
}

func TestModuleAutoMigrateFalse(t *testing.T) {
	t.Parallel()
	dsn := "file:" + filepath.Join(t.TempDir(), "app.db")
	var db *database.DB
	a := app(t, "database:\n  dsn: "+dsn+"\n  auto_migrate: false\n", fx.Populate(&db))
	a.RequireStart()
	defer a.RequireStop()
	if _, err := db.ExecContext(t.Context(), `SELECT 1 FROM schema_migrations`); err == nil {
		t.Error("schema_migrations exists: migrations ran with auto_migrate: false")
	}
}

func TestModuleUnknownDriver(t *testing.T) {
	t.Parallel()
	src, err := config.Parse("test.yaml", []byte("database:\n  driver: mysql\n  dsn: x\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := fx.New(fx.NopLogger, config.Module(src), fx.Supply(discard()), sqlite.Module, postgres.Module,
		database.Module, fx.Invoke(func(*database.DB) {}))
	err = a.Err()
	if err == nil || !strings.Contains(err.Error(), `database.driver: "mysql" is not one of postgres, sqlite`) {
		t.Errorf("err = %v, want the unknown driver named with the registered ones", err)
	}
}

func TestModuleStartFailsOnBadMigration(t *testing.T) {
	t.Parallel()
	dsn := "file:" + filepath.Join(t.TempDir(), "app.db")
	src, err := config.Parse("test.yaml", []byte("database:\n  dsn: "+dsn+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var db *database.DB
	a := fx.New(fx.NopLogger, config.Module(src), fx.Supply(discard()), sqlite.Module, database.Module,
		database.AsMigrations("bad", migrationFS(map[string]string{"001_bad.sql": "NOT SQL"})),
		fx.Populate(&db))
	err = a.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "bad/sqlite/001_bad") {
		t.Fatalf("start: err = %v, want the failing migration named", err)
	}
	if err := db.PingContext(t.Context()); err == nil {
		t.Error("pool left open after a failed start")
	}
}
