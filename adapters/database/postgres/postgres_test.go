package postgres_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/internal/testenv"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpen(t *testing.T) {
	t.Parallel()
	db, err := postgres.Open(t.Context(), database.Config{Driver: "postgres", DSN: testenv.PostgresDSN(t), MaxOpenConns: 3}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().MaxOpenConnections; got != 3 {
		t.Errorf("max open = %d, want the configured 3", got)
	}
	if db.Dialect.Name() != "postgres" {
		t.Errorf("dialect = %q", db.Dialect.Name())
	}
}

func TestOpenBadDSNHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), database.Config{Driver: "postgres", DSN: "postgres://u:s3cret@host:notaport/db"}, discard())
	if err == nil {
		t.Fatal("no error for a bad DSN")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
