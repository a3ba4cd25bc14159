package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// gate is the message.Subscriber the Router consumes for one queue. It
// merges the queue's priority topics, taking a delivered high message before
// a delivered normal one and a normal before a low. The order is strict for
// what the transports have delivered, which is a read-ahead window per
// topic: a high job overtakes any backlog, while a low job can slip in
// when a fast drain momentarily empties the normal window; it caps the messages
// handed to the Router and not yet acked at `slots` (queue.concurrency);
// while the queue is paused it hands out nothing; and its Close stops
// handing out, waits up to drain for the running jobs to be acked, and only
// then closes the transport, so their acks are not lost.
//
// Subscribe must be called once (one Router handler per queue).
type gate struct {
	sub    message.Subscriber
	topics []string
	slots  int
	drain  time.Duration

	paused   atomic.Bool
	pauseMu  sync.Mutex
	pauseCh  chan struct{} // closed and replaced on every change
	closing  chan struct{}
	closeOne sync.Once
	closeErr error
	running  atomic.Int64 // handed out, handler not yet returned
	sem      chan struct{}
	bufs     []chan *message.Message
}

func newGate(sub message.Subscriber, topics []string, slots int, drain time.Duration) *gate {
	return &gate{sub: sub, topics: topics, slots: slots, drain: drain,
		pauseCh: make(chan struct{}), closing: make(chan struct{}), sem: make(chan struct{}, slots)}
}

func (g *gate) setPaused(p bool) {
	if g.paused.Swap(p) == p {
		return
	}
	g.pauseMu.Lock()
	close(g.pauseCh)
	g.pauseCh = make(chan struct{})
	g.pauseMu.Unlock()
}

func (g *gate) pauseChanged() <-chan struct{} {
	g.pauseMu.Lock()
	defer g.pauseMu.Unlock()
	return g.pauseCh
}

// Subscribe ignores topic: the gate knows its queue's topics.
//
// The Router cancels ctx the moment it starts closing, before running
// handlers finish; the transport subscriptions (and so the running jobs'
// contexts, which derive from them) get a context detached from it, and
// end only through Close, after the drain.
func (g *gate) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	tctx := context.WithoutCancel(ctx)
	ins := make([]<-chan *message.Message, len(g.topics))
	g.bufs = make([]chan *message.Message, len(g.topics))
	for i, t := range g.topics {
		ch, err := g.sub.Subscribe(tctx, t)
		if err != nil {
			return nil, err
		}
		// The transport hands messages over one send at a time; between two
		// sends a lower priority could look like the only one ready. A
		// buffer per topic, kept full by the transport's read-ahead, makes
		// "is a higher priority ready?" a question about what was
		// delivered, not about goroutine scheduling.
		buf := make(chan *message.Message, 2*g.slots)
		g.bufs[i], ins[i] = buf, buf
		go g.fill(ch, buf)
	}
	out := make(chan *message.Message)
	go g.forward(ctx, ins, out)
	return out, nil
}

func (g *gate) fill(in <-chan *message.Message, buf chan<- *message.Message) {
	defer close(buf)
	for m := range in {
		predecode(m)
		select {
		case buf <- m:
		case <-g.closing:
			m.Nack()
			return
		}
	}
}

func (g *gate) forward(ctx context.Context, ins []<-chan *message.Message, out chan<- *message.Message) {
	defer close(out)
	sem := g.sem
	for {
		changed := g.pauseChanged()
		if g.paused.Load() {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			case <-g.closing:
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		case <-g.closing:
			return
		}
		msg, stop := g.pick(ctx, ins, changed)
		if stop {
			return
		}
		if msg == nil { // paused meanwhile
			<-sem
			continue
		}
		g.running.Add(1)
		select {
		case out <- msg: // the Router runs it; slotMiddleware releases the slot
		case <-ctx.Done():
			msg.Nack()
			g.release()
			return
		case <-g.closing:
			msg.Nack()
			g.release()
			return
		}
	}
}

// release frees the slot of a message whose handler returned.
func (g *gate) release() {
	g.running.Add(-1)
	<-g.sem
}

// pick returns the next message by priority; nil, false when the pause
// flag changed; stop when the gate or every input is closed.
func (g *gate) pick(ctx context.Context, ins []<-chan *message.Message, changed <-chan struct{}) (*message.Message, bool) {
	for {
		open := 0
		for i, in := range ins {
			if in == nil {
				continue
			}
			open++
			select {
			case m, ok := <-in:
				if !ok {
					ins[i] = nil
					continue
				}
				return m, false
			default:
			}
		}
		if open == 0 {
			return nil, true
		}
		var c [3]<-chan *message.Message
		copy(c[:], ins)
		select {
		case m, ok := <-c[0]:
			if ok {
				return m, false
			}
			ins[0] = nil
		case m, ok := <-c[1]:
			if ok {
				return m, false
			}
			ins[1] = nil
		case m, ok := <-c[2]:
			if ok {
				return m, false
			}
			ins[2] = nil
		case <-changed:
			return nil, false
		case <-ctx.Done():
			return nil, true
		case <-g.closing:
			return nil, true
		}
	}
}

// Close stops handing out messages, waits up to drain for running jobs,
// hands buffered messages back, then closes the transport subscriber, which
// flushes the acks. It runs once; later and concurrent calls wait for that
// run and return its result (the Router calls Close from its own goroutine
// and does not wait for it: Worker.Stop calls it again to wait).
func (g *gate) Close() error {
	g.closeOne.Do(func() { g.closeErr = g.close() })
	return g.closeErr
}

func (g *gate) close() error {
	close(g.closing)
	deadline := time.Now().Add(g.drain)
	for g.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond) // shutdown path only
	}
	// Messages buffered but never handed out go back to the transport.
	for _, b := range g.bufs {
		for drained := false; !drained; {
			select {
			case m, ok := <-b:
				if !ok {
					drained = true
					break
				}
				m.Nack()
			default:
				drained = true
			}
		}
	}
	return g.sub.Close()
}
