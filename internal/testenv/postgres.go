package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// PostgresAdminDSN is the development machine's PostgreSQL (trust auth).
// TIPBOX_TEST_POSTGRES_DSN overrides it.
const PostgresAdminDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var dbSeq atomic.Int64

// PostgresDSN creates a fresh database for this test and returns its DSN.
// The database is dropped when the test ends; the shared `test` database is
// never written to.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TIPBOX_TEST_POSTGRES_DSN")
	if admin == "" {
		admin = PostgresAdminDSN
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		Unavailable(t, "postgres at %s: %v", admin, err)
	}
	name := fmt.Sprintf("tipbox_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, dbSeq.Add(1))
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	// Replace the database name in the admin DSN's path.
	i := strings.LastIndex(admin, "/")
	rest := ""
	if q := strings.Index(admin[i:], "?"); q >= 0 {
		rest = admin[i+q:]
	}
	return admin[:i+1] + name + rest
}
