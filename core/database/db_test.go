package database_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
)

func TestInTx(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		db := b.connect(t, dsn)
		if _, err := db.ExecContext(t.Context(), `CREATE TABLE items (name TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		insert := func(name string) func(tx *sql.Tx) error {
			return func(tx *sql.Tx) error {
				_, err := tx.ExecContext(t.Context(), `INSERT INTO items (name) VALUES ($1)`, name)
				return err
			}
		}
		if err := db.InTx(t.Context(), insert("committed")); err != nil {
			t.Fatalf("commit: %v", err)
		}

		errBoom := errors.New("boom")
		err := db.InTx(t.Context(), func(tx *sql.Tx) error {
			if err := insert("rolled back")(tx); err != nil {
				return err
			}
			return errBoom
		})
		if err != errBoom { // returned unchanged, not wrapped
			t.Errorf("err = %v, want errBoom", err)
		}

		func() {
			defer func() {
				if r := recover(); r != "panic in fn" {
					t.Errorf("recovered %v, want the panic to continue", r)
				}
			}()
			_ = db.InTx(t.Context(), func(tx *sql.Tx) error {
				_ = insert("panicked")(tx)
				panic("panic in fn")
			})
		}()

		rows := count(t, db, `SELECT COUNT(*) FROM items`)
		if rows != 1 || count(t, db, `SELECT COUNT(*) FROM items WHERE name = $1`, "committed") != 1 {
			t.Errorf("items = %d rows, want only the committed one", rows)
		}
		// The pool is not left holding a transaction: a new one works.
		if err := db.InTx(t.Context(), insert("after")); err != nil {
			t.Errorf("after panic: %v", err)
		}
	})
}

func TestDialectUniqueViolation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend, dsn string) {
		db := b.connect(t, dsn)
		if db.Dialect.Name() != b.name {
			t.Errorf("dialect name = %q, want %q", db.Dialect.Name(), b.name)
		}
		_, err := db.ExecContext(t.Context(), `CREATE TABLE accounts (
			id BIGINT PRIMARY KEY, handle TEXT NOT NULL, mail TEXT NOT NULL,
			CONSTRAINT accounts_handle_unique UNIQUE (handle),
			CONSTRAINT accounts_mail_unique UNIQUE (mail))`)
		if err != nil {
			t.Fatal(err)
		}
		ins := `INSERT INTO accounts (id, handle, mail) VALUES ($1, $2, $3)`
		if _, err := db.ExecContext(t.Context(), ins, 1, "h", "m"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			args []any
			want string
		}{
			{[]any{2, "h", "other"}, "handle"},
			{[]any{3, "other", "m"}, "mail"},
			{[]any{1, "x", "y"}, "accounts"}, // primary key: accounts_pkey / accounts.id
		} {
			_, err := db.ExecContext(t.Context(), ins, tc.args...)
			constraint, ok := db.Dialect.IsUniqueViolation(err)
			if !ok || !strings.Contains(constraint, tc.want) {
				t.Errorf("%v: IsUniqueViolation(%v) = %q, %v; want a name containing %q", tc.args, err, constraint, ok, tc.want)
			}
		}
		_, err = db.ExecContext(t.Context(), `INSERT INTO accounts (id, handle) VALUES (9, 'n')`) // NOT NULL, not unique
		if c, ok := db.Dialect.IsUniqueViolation(err); err == nil || ok {
			t.Errorf("not-null violation %v reported as unique (%q)", err, c)
		}
		if _, ok := db.Dialect.IsUniqueViolation(errors.New("UNIQUE constraint failed: x")); ok {
			t.Error("a plain error reported as unique violation")
		}
	})
}
