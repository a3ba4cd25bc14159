package gamification

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Users is what the module needs of the user module: whether a user
// exists. *user.Service satisfies it.
type Users interface {
	Exists(ctx context.Context, id int64) (bool, error)
}

// ProfileInvalidator drops users' cached profiles; *user.Service
// satisfies it. Called after every grant, since the profile lists badges:
// once for all the grants of a batch.
type ProfileInvalidator interface {
	InvalidateProfiles(ctx context.Context, userIDs ...int64)
}

// Service grants badges. Safe for concurrent use.
type Service struct {
	store    *Store
	users    Users
	profiles ProfileInvalidator
	queue    queue.Enqueuer
	log      *slog.Logger
	batch    *grantBatcher

	flushMu sync.Mutex // one outbox flush at a time per process

	// Job ids of outbox rows already enqueued by their grant, deleted in
	// one statement by the relay's next sweep: the request path commits
	// once (the grant), not twice.
	sentMu sync.Mutex
	sent   []string
}

// maxSent bounds the ids waiting for a sweep; past it a grant deletes its
// own row (a database that keeps failing deletes costs memory no more).
const maxSent = 10000

// NewService wires a Service.
func NewService(store *Store, users Users, profiles ProfileInvalidator, q queue.Enqueuer, log *slog.Logger) *Service {
	s := &Service{store: store, users: users, profiles: profiles, queue: q, log: log.With("module", "gamification")}
	s.batch = &grantBatcher{commit: store.grantMany, maxBatch: maxGrantBatch, afterCommit: s.afterCommit, log: s.log}
	return s
}

// maxGrantBatch bounds the grants one batch carries.
const maxGrantBatch = 128

// Badges lists the catalogue.
func (s *Service) Badges(ctx context.Context) ([]Badge, error) { return s.store.Badges(ctx) }

// GrantBadge gives the badge to the user: ErrUserNotFound, ErrBadgeNotFound,
// ErrAlreadyGranted (idempotent: a second grant changes nothing). On
// success the cached profile is invalidated and a high-priority NEW_BADGE
// notification is queued. When the queue enqueues inside the grant's
// transaction (queue.driver postgres), the job commits with the grant.
// Otherwise a queue that fails now does not fail the grant: the
// notification stays in the outbox and the relay sends it later.
//
// Concurrent grants are committed together (one statement or transaction
// for all of them, see grantBatcher); after the commit the batch drops its
// users' cached profiles and enqueues its notifications, one call each
// (afterCommit), before it answers. A grant's outbox row goes in the next
// sweep (one DELETE for many grants), and the relay alone walks the
// outbox.
func (s *Service) GrantBadge(ctx context.Context, userID, badgeID int64) (Grant, error) {
	if ok, err := s.users.Exists(ctx, userID); err != nil {
		return Grant{}, err
	} else if !ok {
		return Grant{}, ErrUserNotFound
	}
	txq, inTx := s.queue.(queue.TxEnqueuer)
	if !inTx || !txq.SupportsTx() {
		g, _, err := s.batch.grant(ctx, Grant{UserID: userID, BadgeID: badgeID,
			GrantedAt: time.Now().UTC().Truncate(time.Microsecond)})
		if err != nil {
			return Grant{}, err
		}
		s.log.InfoContext(ctx, "badge granted", "user_id", userID, "badge_id", badgeID)
		return g, nil
	}
	// The job commits with the grant: no outbox row, nothing to relay.
	g, _, err := s.store.grant(ctx, userID, badgeID, func(tx *sql.Tx, jobID string, payload []byte) error {
		_, err := txq.EnqueueTx(ctx, tx, NotificationQueue, NewBadgeJob, json.RawMessage(payload),
			queue.WithPriority(queue.PriorityHigh), queue.WithJobID(jobID))
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	s.log.InfoContext(ctx, "badge granted", "user_id", userID, "badge_id", badgeID)
	s.profiles.InvalidateProfiles(ctx, userID)
	return g, nil
}

// afterCommit drops the cached profiles of a batch's new grants and
// hands their notifications to the queue, one call each. A queue that
// fails does not fail the grants: the notifications stay in the outbox
// and the relay sends them later.
func (s *Service) afterCommit(ctx context.Context, res []grantResult) {
	users := make([]int64, 0, len(res))
	jobs := make([]queue.NewJob, 0, len(res))
	ids := make([]string, 0, len(res))
	for _, r := range res {
		if r.err != nil {
			continue
		}
		id := JobID(r.grant.UserID, r.grant.BadgeID)
		users = append(users, r.grant.UserID)
		jobs = append(jobs, queue.NewJob{Name: NewBadgeJob, Payload: r.payload,
			Options: []queue.Option{queue.WithPriority(queue.PriorityHigh), queue.WithJobID(id)}})
		ids = append(ids, id)
	}
	s.profiles.InvalidateProfiles(ctx, users...)
	if _, err := s.queue.EnqueueBulk(ctx, NotificationQueue, jobs); err != nil {
		s.log.WarnContext(ctx, "notifications left in the outbox for the relay", "grants", len(jobs), "err", err)
		return
	}
	s.sentMu.Lock()
	n := min(len(ids), max(0, maxSent-len(s.sent)))
	s.sent = append(s.sent, ids[:n]...)
	s.sentMu.Unlock()
	if rest := ids[n:]; len(rest) > 0 {
		// A row left behind by a failed delete is re-sent by the relay
		// under the same job id: deduplicated by the queue.
		if err := s.store.deleteOutboxJobs(ctx, rest); err != nil {
			s.log.WarnContext(ctx, "outbox rows of queued notifications not removed", "rows", len(rest), "err", err)
		}
	}
}

// sweep deletes the outbox rows whose grants already enqueued them.
func (s *Service) sweep(ctx context.Context) error {
	s.sentMu.Lock()
	ids := s.sent
	s.sent = nil
	s.sentMu.Unlock()
	for len(ids) > 0 {
		n := min(len(ids), 500)
		if err := s.store.deleteOutboxJobs(ctx, ids[:n]); err != nil {
			s.sentMu.Lock()
			s.sent = append(s.sent, ids...)
			s.sentMu.Unlock()
			return fmt.Errorf("gamification: delete sent outbox rows: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// FlushOutbox deletes the rows grants already enqueued, then hands every
// other outbox row to the queue, oldest first, and deletes the rows whose
// jobs are stored. It stops at the first enqueue error (the rest wait for
// the next flush).
func (s *Service) FlushOutbox(ctx context.Context) error {
	return s.flushBefore(ctx, time.Now().Add(time.Hour))
}

// flushBefore is FlushOutbox for the rows written before before. One
// flush runs at a time per process.
func (s *Service) flushBefore(ctx context.Context, before time.Time) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err := s.sweep(ctx); err != nil {
		return err
	}
	for {
		rows, err := s.store.pendingOutbox(ctx, before, 100)
		if err != nil {
			return fmt.Errorf("gamification: read outbox: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		sent := make([]int64, 0, len(rows))
		var enqErr error
		for _, r := range rows {
			if _, err := s.queue.Enqueue(ctx, NotificationQueue, NewBadgeJob, r.Payload,
				queue.WithPriority(queue.PriorityHigh), queue.WithJobID(r.JobID)); err != nil {
				enqErr = fmt.Errorf("gamification: enqueue %s: %w", r.JobID, err)
				break
			}
			sent = append(sent, r.ID)
		}
		if err := s.store.deleteOutbox(ctx, sent); err != nil {
			return fmt.Errorf("gamification: delete %d outbox rows: %w", len(sent), err)
		}
		if enqErr != nil {
			return enqErr
		}
	}
}

// sweepInterval is how often the rows of enqueued grants are deleted.
const sweepInterval = 50 * time.Millisecond

// relay flushes the outbox periodically until ctx ends: it delivers what a
// crash between commit and enqueue, or a queue outage, left behind.
func (s *Service) relay(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	sweepT := time.NewTicker(sweepInterval)
	defer sweepT.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweepT.C:
			if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("outbox sweep", "err", err)
			}
		case <-t.C:
			// Rows younger than a tick belong to grants still on their way
			// to the queue; leaving them avoids enqueuing them twice.
			if err := s.flushBefore(ctx, time.Now().Add(-every)); err != nil && ctx.Err() == nil {
				s.log.Error("outbox relay", "err", err)
			}
		}
	}
}
