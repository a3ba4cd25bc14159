package database

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/fx"
)

// Migrations is one module's schema history: FS holds one directory per
// dialect ("sqlite/", "postgres/") of files named NNN_description.sql, applied
// in ascending NNN. A file may hold several statements and runs inside a
// transaction, so statements that refuse one (CREATE INDEX CONCURRENTLY,
// VACUUM) cannot be used. Applied files must never change (they are not run
// again); add a new one instead.
type Migrations struct {
	Module string
	FS     fs.FS
}

// MigrationsGroup is the fx value group holding the modules' migrations.
const MigrationsGroup = "database.migrations"

// AsMigrations contributes module's migrations to fx; the database Module
// applies them on start.
func AsMigrations(module string, fsys fs.FS) fx.Option {
	return fx.Supply(fx.Annotated{
		Group:  MigrationsGroup,
		Target: Migrations{Module: module, FS: fsys},
	})
}

// ErrMigration marks a malformed migration set (bad file name, duplicate
// version, no directory for the dialect).
var ErrMigration = errors.New("database: bad migrations")

// migrationLockKey names the lock every Migrate transaction takes.
const migrationLockKey = "tipbox.schema_migrations"

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	module     TEXT   NOT NULL,
	version    BIGINT NOT NULL,
	name       TEXT   NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (module, version)
)`

type migration struct {
	version int64
	name    string
	sql     string
}

// Migrate applies the pending migrations of every set, per module in version
// order, each file in its own transaction together with its row in
// schema_migrations(module, version, name, applied_at). It is idempotent,
// and processes starting at once are safe: each transaction takes the
// dialect's migration lock (LockTx) and re-checks before applying, so every
// file runs exactly once. A failing file is rolled back and stops Migrate;
// the files before it stay applied.
func Migrate(ctx context.Context, db *DB, sets []Migrations, log *slog.Logger) error {
	dialect := db.Dialect.Name()
	plans := make(map[string][]migration, len(sets))
	modules := make([]string, 0, len(sets))
	for _, set := range sets {
		if _, dup := plans[set.Module]; dup {
			return fmt.Errorf("%w: module %q contributed twice", ErrMigration, set.Module)
		}
		ms, err := load(set, dialect)
		if err != nil {
			return err
		}
		plans[set.Module] = ms
		modules = append(modules, set.Module)
	}
	slices.Sort(modules) // fx value groups come in random order

	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return err
	}
	for _, module := range modules {
		for _, m := range plans[module] {
			if applied[module][m.version] {
				continue
			}
			did, err := apply(ctx, db, module, m)
			if err != nil {
				return fmt.Errorf("database: migration %s/%s/%03d_%s: %w", module, dialect, m.version, m.name, err)
			}
			if did {
				log.Info("database migration applied", "module", module, "version", m.version, "name", m.name)
			}
		}
	}
	return nil
}

// appliedVersions creates schema_migrations if needed (under the lock: two
// concurrent CREATE TABLE IF NOT EXISTS can fail on postgres) and reads it.
func appliedVersions(ctx context.Context, db *DB) (map[string]map[int64]bool, error) {
	applied := make(map[string]map[int64]bool)
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.Dialect.LockTx(ctx, tx, migrationLockKey); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT module, version FROM schema_migrations`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var module string
			var version int64
			if err := rows.Scan(&module, &version); err != nil {
				return err
			}
			if applied[module] == nil {
				applied[module] = make(map[int64]bool)
			}
			applied[module][version] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("database: read schema_migrations: %w", err)
	}
	return applied, nil
}

// apply runs m unless another process applied it since appliedVersions;
// did reports whether this call applied it.
func apply(ctx context.Context, db *DB, module string, m migration) (did bool, err error) {
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.Dialect.LockTx(ctx, tx, migrationLockKey); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx,
			`SELECT COUNT(*) FROM schema_migrations WHERE module = $1 AND version = $2`,
			module, m.version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (module, version, name, applied_at) VALUES ($1, $2, $3, $4)`,
			module, m.version, m.name, time.Now().UnixMicro()); err != nil {
			return err
		}
		did = true
		return nil
	})
	return did, err
}

// load reads set's files for dialect, sorted by version.
func load(set Migrations, dialect string) ([]migration, error) {
	if set.Module == "" || set.FS == nil {
		return nil, fmt.Errorf("%w: a set needs a module name and an FS", ErrMigration)
	}
	entries, err := fs.ReadDir(set.FS, dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: module %q has no %s/ directory: %v", ErrMigration, set.Module, dialect, err)
	}
	var ms []migration
	seen := make(map[int64]string)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		version, err := strconv.ParseInt(num, 10, 64)
		if !ok || name == "" || err != nil || version <= 0 {
			return nil, fmt.Errorf("%w: module %q: %s/%s is not named NNN_name.sql", ErrMigration, set.Module, dialect, e.Name())
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("%w: module %q: %s/%s and %s share version %d", ErrMigration, set.Module, dialect, other, e.Name(), version)
		}
		seen[version] = e.Name()
		body, err := fs.ReadFile(set.FS, path.Join(dialect, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: module %q: %v", ErrMigration, set.Module, err)
		}
		ms = append(ms, migration{version: version, name: name, sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return ms, nil
}
