package queue

import "github.com/ThreeDotsLabs/watermill/message"

// slotMiddleware is outermost: it acks (or nacks) the message as soon as
// the handler chain returns, then frees its slot in the gate for the next
// one. Acking here, before the release, lets the gate's Close know that
// every finished job's ack has reached the transport before it closes it
// (the Router's own Ack afterwards is a no-op); releasing here rather than
// in a goroutine watching the ack saves a goroutine per job.
func slotMiddleware(g *gate) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			defer g.release() // also after a panic the Router recovers
			out, err := next(msg)
			if err == nil {
				msg.Ack()
			} else {
				msg.Nack()
			}
			return out, err
		}
	}
}
