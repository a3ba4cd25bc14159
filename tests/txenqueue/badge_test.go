// Package txenqueue tests the gamification module on the PostgreSQL
// queue driver: the NEW_BADGE job is enqueued in the grant's transaction.
package txenqueue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/tipbox/tipbox/adapters/queue/postgres"
	qmig "github.com/tipbox/tipbox/adapters/queue/postgres/migrations"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/gamification"
	gmig "github.com/tipbox/tipbox/modules/gamification/migrations"
	"github.com/tipbox/tipbox/modules/user"
	umig "github.com/tipbox/tipbox/modules/user/migrations"
)

type noInvalidation struct{}

func (noInvalidation) InvalidateProfiles(context.Context, ...int64) {}

// A grant and its NEW_BADGE job commit together: the job is in the queue
// (high priority, the grant's job id) as soon as GrantBadge returns, and
// no outbox row is written; a grant that fails leaves no job.
func TestBadgeJobCommitsWithTheGrant(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "postgres", database.Migrations{Module: "user", FS: umig.FS},
		database.Migrations{Module: "gamification", FS: gmig.FS}, database.Migrations{Module: "queue_postgres", FS: qmig.FS})
	cfg := queue.Config{Driver: "postgres", Queues: []string{gamification.NotificationQueue}}
	cfg.SetDefaults()
	log := slog.New(slog.DiscardHandler)
	b, err := postgres.New(db.DB, cfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	client, err := queue.NewClient(cfg, b, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	users := user.NewSQLStore(db)
	store := gamification.NewStore(db)
	svc := gamification.NewService(store, user.NewService(users, nil, nil, log), noInvalidation{}, client, log)
	ctx := t.Context()
	u, err := users.Create(ctx, user.User{Username: "ayse", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	badges, err := svc.Badges(ctx)
	if err != nil || len(badges) == 0 {
		t.Fatalf("badges %v %v", badges, err)
	}
	if _, err := svc.GrantBadge(ctx, u.ID, badges[0].ID); err != nil {
		t.Fatal(err)
	}
	j, err := b.Job(ctx, gamification.NotificationQueue, gamification.JobID(u.ID, badges[0].ID))
	if err != nil {
		t.Fatalf("job of the grant: %v", err)
	}
	var ev gamification.NewBadgeEvent
	if err := json.Unmarshal(j.Payload, &ev); err != nil || j.Name != gamification.NewBadgeJob ||
		j.Priority != queue.PriorityHigh || ev.UserID != u.ID || ev.BadgeID != badges[0].ID {
		t.Fatalf("job %+v, event %+v %v", j, ev, err)
	}
	var outbox int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM gamification_outbox`).Scan(&outbox); err != nil || outbox != 0 {
		t.Fatalf("outbox rows %d %v", outbox, err)
	}
	// A grant of an unknown badge rolls back: no job.
	if _, err := svc.GrantBadge(ctx, u.ID, 9999); !errors.Is(err, gamification.ErrBadgeNotFound) {
		t.Fatalf("unknown badge: %v", err)
	}
	// A second grant of the badge changes nothing: no second job.
	if _, err := svc.GrantBadge(ctx, u.ID, badges[0].ID); !errors.Is(err, gamification.ErrAlreadyGranted) {
		t.Fatalf("second grant: %v", err)
	}
	if s, err := b.Stats(ctx, gamification.NotificationQueue); err != nil || s.Waiting != 1 {
		t.Fatalf("stats %+v %v", s, err)
	}
}
