package notification

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/tipbox/tipbox/core/queue"
)

// Pusher delivers an event to a user's open sockets, wherever they are
// (core/realtime's Publisher satisfies it). An offline user is not an error.
type Pusher interface {
	Publish(ctx context.Context, userID int64, payload any) error
}

// Handler runs the jobs of the notifications queue.
type Handler struct {
	store *Store
	push  Pusher
	log   *slog.Logger
}

// NewHandler wires a Handler.
func NewHandler(store *Store, push Pusher, log *slog.Logger) *Handler {
	return &Handler{store: store, push: push, log: log.With("module", "notification")}
}

// Handle stores the job's notification (once per job id) and pushes it.
// A payload without type or userId is dead-lettered at once; a database
// error is retried; a push error is logged and the job still succeeds.
func (h *Handler) Handle(ctx context.Context, job *queue.Job) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(job.Payload, &fields); err != nil {
		return queue.Permanent(ErrBadPayload)
	}
	var typ string
	var userID int64
	if err := json.Unmarshal(fields["type"], &typ); err != nil || typ == "" {
		typ = job.Name
	}
	if err := json.Unmarshal(fields["userId"], &userID); err != nil || userID <= 0 || typ == "" {
		return queue.Permanent(ErrBadPayload)
	}
	delete(fields, "type")
	delete(fields, "userId")
	n, created, err := h.store.Save(ctx, job.ID, userID, typ, fields)
	if err != nil {
		return err
	}
	if !created {
		h.log.DebugContext(ctx, "notification already stored; pushing again", "job_id", job.ID, "notification_id", n.ID)
	}
	if err := h.push.Publish(ctx, userID, n); err != nil {
		h.log.WarnContext(ctx, "push failed; the notification is in the inbox", "user_id", userID, "notification_id", n.ID, "err", err)
	}
	return nil
}

// QueueHandler is the registration of Handle for the queue's every job name.
func (h *Handler) QueueHandler() queue.Handler {
	return queue.Handler{Queue: Queue, Handle: h.Handle}
}
