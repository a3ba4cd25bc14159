package user_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/internal/testenv"
	"github.com/tipbox/tipbox/modules/user"
	"github.com/tipbox/tipbox/modules/user/migrations"
)

// TestStore runs the one Store contract against every database adapter.
func TestStore(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runStoreContract(t, func(t *testing.T) user.Store { return newBackendStore(t, name) })
		})
	}
}

// newBackendStore returns a SQLStore on a fresh, migrated database: a temp
// file for sqlite, a database of its own for postgres.
func newBackendStore(t testing.TB, backend string) user.Store {
	switch backend {
	case "sqlite":
		return user.NewSQLStore(openMigrated(t, sqlite.Open, "file:"+filepath.Join(t.TempDir(), "users.db")))
	case "postgres":
		return user.NewSQLStore(openMigrated(t, postgres.Open, testenv.PostgresDSN(t)))
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

type openFunc func(context.Context, database.Config, *slog.Logger) (*database.DB, error)

func openMigrated(t testing.TB, open openFunc, dsn string) *database.DB {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := open(t.Context(), database.Config{DSN: dsn}, log)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	sets := []database.Migrations{{Module: "user", FS: migrations.FS}}
	if err := database.Migrate(t.Context(), db, sets, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// runStoreContract is what every user.Store must do. newStore returns an
// empty store of its own for each subtest.
func runStoreContract(t *testing.T, newStore func(t *testing.T) user.Store) {
	t.Run("create and get", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		before := time.Now().Add(-time.Second)
		in := user.User{Username: "Alice", Email: "Alice@Example.com", DisplayName: "Alice A.", Bio: "hi 🎯"}
		created, err := s.Create(t.Context(), in)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.ID <= 0 {
			t.Errorf("id = %d, want > 0", created.ID)
		}
		if created.CreatedAt.Before(before) || !created.CreatedAt.Equal(created.UpdatedAt) {
			t.Errorf("times = %v / %v, want now and equal", created.CreatedAt, created.UpdatedAt)
		}
		got, err := s.Get(t.Context(), created.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got != created { // exact round trip, times and location included
			t.Errorf("get = %+v\nwant %+v", got, created)
		}
		if got.Username != "Alice" || got.Email != "Alice@Example.com" {
			t.Errorf("case not kept: %q %q", got.Username, got.Email)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("location = %v, want UTC", got.CreatedAt.Location())
		}
		second, err := s.Create(t.Context(), user.User{Username: "bob", Email: "bob@example.com"})
		if err != nil {
			t.Fatalf("create second: %v", err)
		}
		if second.ID == created.ID {
			t.Errorf("second user got the same id %d", second.ID)
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, err := s.Create(t.Context(), user.User{Username: "carol", Email: "carol@example.com"}); err != nil {
			t.Fatalf("create: %v", err)
		}
		for _, tc := range []struct {
			name string
			u    user.User
			want error
		}{
			{"same username", user.User{Username: "carol", Email: "other@example.com"}, user.ErrDuplicateUsername},
			{"username other case", user.User{Username: "CaRoL", Email: "other@example.com"}, user.ErrDuplicateUsername},
			{"same email", user.User{Username: "other", Email: "carol@example.com"}, user.ErrDuplicateEmail},
			{"email other case", user.User{Username: "other", Email: "CAROL@EXAMPLE.COM"}, user.ErrDuplicateEmail},
		} {
			if _, err := s.Create(t.Context(), tc.u); !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
		}
		// A failed insert leaves nothing behind: the names stay free.
		if _, err := s.Create(t.Context(), user.User{Username: "other", Email: "other@example.com"}); err != nil {
			t.Errorf("create after failures: %v", err)
		}
	})

	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if _, err := s.Get(t.Context(), 424242); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("get: err = %v, want ErrNotFound", err)
		}
		called := false
		_, err := s.Update(t.Context(), 424242, func(*user.User) error { called = true; return nil })
		if !errors.Is(err, user.ErrNotFound) {
			t.Errorf("update: err = %v, want ErrNotFound", err)
		}
		if called {
			t.Error("update called fn for a missing user")
		}
	})

	t.Run("update", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		u, err := s.Create(t.Context(), user.User{Username: "dave", Email: "dave@example.com"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		updated, err := s.Update(t.Context(), u.ID, func(u *user.User) error {
			u.DisplayName = "Dave"
			u.Bio = "new bio"
			u.Email = "Dave@New.example"
			u.ID = 999                // ignored
			u.CreatedAt = time.Time{} // ignored
			return nil
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if updated.ID != u.ID || !updated.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("id/created changed: %+v", updated)
		}
		if !updated.UpdatedAt.After(u.UpdatedAt) {
			t.Errorf("updated_at %v not after %v", updated.UpdatedAt, u.UpdatedAt)
		}
		got, err := s.Get(t.Context(), u.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got != updated {
			t.Errorf("get = %+v\nwant %+v", got, updated)
		}
		// The old email is free again, the new one is taken (any case).
		if _, err := s.Create(t.Context(), user.User{Username: "x", Email: "dave@example.com"}); err != nil {
			t.Errorf("old email not freed: %v", err)
		}
		if _, err := s.Create(t.Context(), user.User{Username: "y", Email: "dave@new.EXAMPLE"}); !errors.Is(err, user.ErrDuplicateEmail) {
			t.Errorf("new email: err = %v, want ErrDuplicateEmail", err)
		}
	})

	t.Run("update to taken names", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, err := s.Create(t.Context(), user.User{Username: "erin", Email: "erin@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(t.Context(), user.User{Username: "frank", Email: "frank@example.com"}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Update(t.Context(), a.ID, func(u *user.User) error { u.Username = "FRANK"; return nil })
		if !errors.Is(err, user.ErrDuplicateUsername) {
			t.Errorf("username: err = %v, want ErrDuplicateUsername", err)
		}
		_, err = s.Update(t.Context(), a.ID, func(u *user.User) error { u.Email = "Frank@example.com"; return nil })
		if !errors.Is(err, user.ErrDuplicateEmail) {
			t.Errorf("email: err = %v, want ErrDuplicateEmail", err)
		}
		if got, err := s.Get(t.Context(), a.ID); err != nil || got != a {
			t.Errorf("after failed updates: %+v, %v; want %+v", got, err, a)
		}
		// Changing only the case of one's own name is not a conflict.
		if _, err := s.Update(t.Context(), a.ID, func(u *user.User) error { u.Username = "Erin"; return nil }); err != nil {
			t.Errorf("case change of own username: %v", err)
		}
	})

	t.Run("update aborted by fn", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		u, err := s.Create(t.Context(), user.User{Username: "gina", Email: "gina@example.com", Bio: "before"})
		if err != nil {
			t.Fatal(err)
		}
		errAbort := errors.New("abort")
		_, err = s.Update(t.Context(), u.ID, func(u *user.User) error {
			u.Bio = "after"
			return errAbort
		})
		if err != errAbort { // the contract: returned unchanged, not wrapped
			t.Errorf("err = %v, want errAbort unchanged", err)
		}
		if got, err := s.Get(t.Context(), u.ID); err != nil || got != u {
			t.Errorf("after abort: %+v, %v; want %+v", got, err, u)
		}
	})

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		u, err := s.Create(t.Context(), user.User{Username: "hank", Email: "hank@example.com", Bio: "0"})
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					_, err := s.Update(t.Context(), u.ID, func(u *user.User) error {
						n, err := strconv.Atoi(u.Bio)
						if err != nil {
							return err
						}
						u.Bio = strconv.Itoa(n + 1)
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("update: %v", err)
		}
		got, err := s.Get(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(workers * each); got.Bio != want {
			t.Errorf("counter = %s, want %s (lost updates)", got.Bio, want)
		}
	})

	t.Run("recently active", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var ids []int64
		for _, name := range []string{"ivy", "jack", "kim"} {
			u, err := s.Create(t.Context(), user.User{Username: name, Email: name + "@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		if _, err := s.Update(t.Context(), ids[0], func(u *user.User) error { u.Bio = "active"; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := s.RecentlyActive(t.Context(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{ids[0], ids[2]}; !slices.Equal(got, want) {
			t.Errorf("RecentlyActive(2) = %v, want %v", got, want)
		}
		got, err = s.RecentlyActive(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{ids[0], ids[2], ids[1]}; !slices.Equal(got, want) {
			t.Errorf("RecentlyActive(10) = %v, want %v", got, want)
		}
		if got, err := s.RecentlyActive(t.Context(), 0); err != nil || len(got) != 0 {
			t.Errorf("RecentlyActive(0) = %v, %v; want none", got, err)
		}
	})
}

// BenchmarkStore measures Get and Update of one of 100 users on each
// database, from parallel goroutines (go test -bench Store ./modules/user/).
func BenchmarkStore(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := newBackendStore(b, name)
			ctx := context.Background()
			const users = 100
			ids := make([]int64, users)
			for i := range ids {
				u, err := s.Create(ctx, user.User{Username: "u" + strconv.Itoa(i), Email: strconv.Itoa(i) + "@example.com"})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = u.ID
			}
			b.Run("Get", func(b *testing.B) {
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Get(ctx, ids[n.Add(1)%users]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("Update", func(b *testing.B) {
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						_, err := s.Update(ctx, ids[n.Add(1)%users], func(u *user.User) error { u.Bio = "x"; return nil })
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
