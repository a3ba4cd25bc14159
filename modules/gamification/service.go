package gamification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/modules/user"
)

// Users is what the module needs of the user module: whether a user exists.
// user.Store satisfies it.
type Users interface {
	Get(ctx context.Context, id int64) (user.User, error)
}

// ProfileInvalidator drops a user's cached profile; *user.Service
// satisfies it. Called after every grant, since the profile lists badges.
type ProfileInvalidator interface {
	InvalidateProfile(ctx context.Context, userID int64)
}

// Service grants badges. Safe for concurrent use.
type Service struct {
	store    *Store
	users    Users
	profiles ProfileInvalidator
	queue    queue.Enqueuer
	log      *slog.Logger

	flushMu sync.Mutex // one outbox flush at a time per process
}

// NewService wires a Service.
func NewService(store *Store, users Users, profiles ProfileInvalidator, q queue.Enqueuer, log *slog.Logger) *Service {
	return &Service{store: store, users: users, profiles: profiles, queue: q, log: log.With("module", "gamification")}
}

// Badges lists the catalogue.
func (s *Service) Badges(ctx context.Context) ([]Badge, error) { return s.store.Badges(ctx) }

// GrantBadge gives the badge to the user: ErrUserNotFound, ErrBadgeNotFound,
// ErrAlreadyGranted (idempotent: a second grant changes nothing). On
// success the cached profile is invalidated and a high-priority NEW_BADGE
// notification is queued. When the queue enqueues inside the grant's
// transaction (queue.driver postgres), the job commits with the grant.
// Otherwise a queue that fails now does not fail the grant: the
// notification stays in the outbox and the relay sends it later.
func (s *Service) GrantBadge(ctx context.Context, userID, badgeID int64) (Grant, error) {
	if _, err := s.users.Get(ctx, userID); err != nil {
		if errors.Is(err, user.ErrNotFound) {
			return Grant{}, ErrUserNotFound
		}
		return Grant{}, err
	}
	var enqueue func(tx *sql.Tx, jobID string, payload []byte) error
	txq, inTx := s.queue.(queue.TxEnqueuer)
	if inTx && txq.SupportsTx() {
		// The job commits with the grant: no outbox row, nothing to relay.
		enqueue = func(tx *sql.Tx, jobID string, payload []byte) error {
			_, err := txq.EnqueueTx(ctx, tx, NotificationQueue, NewBadgeJob, json.RawMessage(payload),
				queue.WithPriority(queue.PriorityHigh), queue.WithJobID(jobID))
			return err
		}
	}
	g, err := s.store.Grant(ctx, userID, badgeID, enqueue)
	if err != nil {
		return Grant{}, err
	}
	s.log.InfoContext(ctx, "badge granted", "user_id", userID, "badge_id", badgeID)
	s.profiles.InvalidateProfile(ctx, userID)
	if enqueue != nil {
		return g, nil
	}
	if err := s.FlushOutbox(ctx); err != nil {
		s.log.WarnContext(ctx, "notification left in the outbox for the relay", "user_id", userID, "badge_id", badgeID, "err", err)
	}
	return g, nil
}

// FlushOutbox hands every pending outbox row to the queue, oldest first,
// deleting each row once its job is stored. It stops at the first enqueue
// error (the rest wait for the next flush).
func (s *Service) FlushOutbox(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for {
		rows, err := s.store.pendingOutbox(ctx, 100)
		if err != nil {
			return fmt.Errorf("gamification: read outbox: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			if _, err := s.queue.Enqueue(ctx, NotificationQueue, NewBadgeJob, r.Payload,
				queue.WithPriority(queue.PriorityHigh), queue.WithJobID(r.JobID)); err != nil {
				return fmt.Errorf("gamification: enqueue %s: %w", r.JobID, err)
			}
			if err := s.store.deleteOutbox(ctx, r.ID); err != nil {
				return fmt.Errorf("gamification: delete outbox row %d: %w", r.ID, err)
			}
		}
	}
}

// relay flushes the outbox periodically until ctx ends: it delivers what a
// crash between commit and enqueue, or a queue outage, left behind.
func (s *Service) relay(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.FlushOutbox(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("outbox relay", "err", err)
			}
		}
	}
}
