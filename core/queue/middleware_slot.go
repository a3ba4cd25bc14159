package queue

import "github.com/ThreeDotsLabs/watermill/message"

// slotMiddleware is outermost: when the handler chain returns (or panics),
// the message's slot in its gate is free for the next one. Releasing here
// rather than on the ack saves a goroutine per job; the ack follows at once.
func slotMiddleware(g *gate) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			defer g.release()
			return next(msg)
		}
	}
}
