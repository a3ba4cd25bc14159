package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("memory: pubsub closed")

// Broker is an in-process message store shared by publishers and
// subscribers: a FIFO per topic whose messages wait until a subscriber
// takes them. Subscribers of one topic compete (each message goes to one
// of them); a nacked message, or one handed out but not acked when its
// subscription ends, goes back to the front. Unlike Watermill's GoChannel
// nothing is lost when no subscriber is listening, and one subscription
// keeps several messages in flight.
//
// Safe for concurrent use. It lives as long as the process: it is the
// queue of the embedded profile, not shareable between processes.
type Broker struct {
	mu     sync.Mutex
	topics map[string]*topic
}

type stored struct {
	uuid     string
	payload  message.Payload
	metadata message.Metadata
}

type topic struct {
	ready    []stored // FIFO; head at index 0
	inFlight int
	wake     chan struct{} // closed and replaced when ready grows
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{topics: map[string]*topic{}} }

func (b *Broker) topic(name string) *topic {
	t, ok := b.topics[name]
	if !ok {
		t = &topic{wake: make(chan struct{})}
		b.topics[name] = t
	}
	return t
}

func (b *Broker) push(name string, front bool, msgs ...stored) {
	b.mu.Lock()
	t := b.topic(name)
	if front {
		t.ready = append(append(make([]stored, 0, len(msgs)+len(t.ready)), msgs...), t.ready...)
	} else {
		t.ready = append(t.ready, msgs...)
	}
	close(t.wake)
	t.wake = make(chan struct{})
	b.mu.Unlock()
}

// take pops the head of the topic, or returns a channel closed when
// something is added.
func (b *Broker) take(name string) (stored, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topic(name)
	if len(t.ready) == 0 {
		return stored{}, false, t.wake
	}
	s := t.ready[0]
	t.ready[0] = stored{}
	t.ready = t.ready[1:]
	if len(t.ready) == 0 {
		t.ready = nil // let the backing array go
	}
	t.inFlight++
	return s, true, nil
}

func (b *Broker) settle(name string, requeue *stored) {
	b.mu.Lock()
	t := b.topic(name)
	t.inFlight--
	b.mu.Unlock()
	if requeue != nil {
		b.push(name, true, *requeue)
	}
}

// Counts returns how many messages of the topic wait and how many are
// handed out and not yet acked.
func (b *Broker) Counts(name string) (ready, inFlight int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topic(name)
	return len(t.ready), t.inFlight
}

// PubSub is a message.Publisher and message.Subscriber over a Broker.
// Closing it ends its subscriptions (their unacked messages go back to the
// broker) but keeps the broker's messages.
type PubSub struct {
	broker   *Broker
	inFlight int

	mu     sync.Mutex
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// NewPubSub returns a PubSub whose subscriptions keep up to inFlight
// messages unacked at once (minimum 1).
func NewPubSub(b *Broker, inFlight int) *PubSub {
	if inFlight < 1 {
		inFlight = 1
	}
	return &PubSub{broker: b, inFlight: inFlight, done: make(chan struct{})}
}

// Publish stores copies of the messages at the tail of the topic.
func (p *PubSub) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	s := make([]stored, len(msgs))
	for i, m := range msgs {
		md := make(message.Metadata, len(m.Metadata))
		for k, v := range m.Metadata {
			md[k] = v
		}
		s[i] = stored{uuid: m.UUID, payload: append(message.Payload(nil), m.Payload...), metadata: md}
	}
	p.broker.push(topic, false, s...)
	return nil
}

// Subscribe delivers the topic's messages until ctx ends or Close. Each
// delivered message's context derives from ctx and ends when it is acked
// or nacked, or the subscription ends.
func (p *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	out := make(chan *message.Message)
	p.wg.Add(1)
	go p.deliver(ctx, topic, out)
	return out, nil
}

func (p *PubSub) deliver(ctx context.Context, topic string, out chan<- *message.Message) {
	defer p.wg.Done()
	var watchers sync.WaitGroup
	defer func() {
		watchers.Wait()
		close(out)
	}()
	sem := make(chan struct{}, p.inFlight)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		case <-p.done:
			return
		}
		var s stored
		for {
			var ok bool
			var wake <-chan struct{}
			if s, ok, wake = p.broker.take(topic); ok {
				break
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			case <-p.done:
				return
			}
		}
		msg := message.NewMessage(s.uuid, s.payload)
		for k, v := range s.metadata {
			msg.Metadata[k] = v
		}
		mctx, cancel := context.WithCancel(ctx)
		msg.SetContext(mctx)
		select {
		case out <- msg:
		case <-ctx.Done():
			cancel()
			p.broker.settle(topic, &s)
			return
		case <-p.done:
			cancel()
			p.broker.settle(topic, &s)
			return
		}
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			defer cancel()
			var requeue *stored
			select {
			case <-msg.Acked():
			case <-msg.Nacked():
				requeue = &s
			case <-ctx.Done():
				requeue = &s
			case <-p.done:
				requeue = &s
			}
			p.broker.settle(topic, requeue)
			<-sem
		}()
	}
}

// Close ends every subscription of this PubSub and waits for them.
func (p *PubSub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
