package database_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/database"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpenUnknownDriver(t *testing.T) {
	t.Parallel()
	drivers := []database.Driver{sqlite.NewDriver(), postgres.NewDriver()}
	_, err := database.Open(t.Context(), database.Config{Driver: "mysql", DSN: "x"}, drivers, discard())
	if !errors.Is(err, database.ErrUnknownDriver) {
		t.Fatalf("err = %v, want ErrUnknownDriver", err)
	}
	const want = `database.driver: "mysql" is not one of postgres, sqlite`
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	_, err = database.Open(t.Context(), database.Config{Driver: "sqlite", DSN: "x"}, nil, discard())
	if !errors.Is(err, database.ErrUnknownDriver) {
		t.Errorf("no drivers: err = %v", err)
	}
}

func TestOpenPicksByName(t *testing.T) {
	t.Parallel()
	var got string
	fake := func(name string) database.Driver {
		return database.Driver{Name: name, Open: func(context.Context, database.Config, *slog.Logger) (*database.DB, error) {
			got = name
			return &database.DB{}, nil
		}}
	}
	if _, err := database.Open(t.Context(), database.Config{Driver: "b"}, []database.Driver{fake("a"), fake("b")}, discard()); err != nil {
		t.Fatal(err)
	}
	if got != "b" {
		t.Errorf("opened %q, want b", got)
	}
}
