package queue

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/ThreeDotsLabs/watermill/message"
)

// recoverMiddleware turns a handler panic into an error, so the attempt is
// retried like any failure (the stack goes to the log, not the DLQ record).
func (w *Worker) recoverMiddleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if r := recover(); r != nil {
				w.logger.LogAttrs(msg.Context(), slog.LevelError, "job handler panicked",
					slog.String("uuid", msg.UUID), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
				out, err = nil, fmt.Errorf("queue: handler panicked: %v", r)
			}
		}()
		return next(msg)
	}
}
