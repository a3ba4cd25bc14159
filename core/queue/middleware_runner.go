package queue

import (
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// runners run the inner part of the handler chain (recover, context, the
// handler) on long-lived goroutines, one per slot of the queue.
//
// Why: the Router starts a goroutine per message, with a small stack; a
// handler that decodes its payload with encoding/json grows that stack
// every time (runtime.newstack/copystack measured at ~13 % of a drain's
// CPU). A runner's stack grows once and stays grown, for less than the
// cost of the two channel hand-offs per job.
//
// A call takes a free runner, or a goroutine of its own when none is free
// (batch handlers hold their call while their job is parked, so more than
// `slots` calls can be out). After stop, calls run inline.
type runners struct {
	calls chan *runCall
	quit  chan struct{}
	stop  sync.Once
}

type runCall struct {
	next message.HandlerFunc
	msg  *message.Message
	out  []*message.Message
	err  error
	done chan struct{}
}

var runCallPool = sync.Pool{New: func() any { return &runCall{done: make(chan struct{}, 1)} }}

// errRunnerExited is the attempt's error when the handler called
// runtime.Goexit: the attempt failed, the runner is replaced.
var errRunnerExited = errors.New("queue: handler goroutine exited (runtime.Goexit)")

func newRunners(n int) *runners {
	r := &runners{calls: make(chan *runCall), quit: make(chan struct{})}
	for range n {
		go r.loop()
	}
	return r
}

func (r *runners) loop() {
	for {
		select {
		case c := <-r.calls:
			r.run(c)
		case <-r.quit:
			return
		}
	}
}

func (r *runners) run(c *runCall) {
	ok := false
	defer func() {
		if !ok { // Goexit: this goroutine ends, a new runner takes its place
			c.out, c.err = nil, errRunnerExited
			go r.loop()
		}
		c.done <- struct{}{}
	}()
	c.out, c.err = c.next(c.msg)
	ok = true
}

// spare runs one call on a goroutine of its own.
func (r *runners) spare(c *runCall) {
	ok := false
	defer func() {
		if !ok {
			c.out, c.err = nil, errRunnerExited
		}
		c.done <- struct{}{}
	}()
	c.out, c.err = c.next(c.msg)
	ok = true
}

func (r *runners) close() { r.stop.Do(func() { close(r.quit) }) }

func (r *runners) middleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		c := runCallPool.Get().(*runCall)
		c.next, c.msg = next, msg
		select {
		case r.calls <- c:
			<-c.done
		case <-r.quit:
			c.out, c.err = next(msg)
		default:
			go r.spare(c)
			<-c.done
		}
		out, err := c.out, c.err
		*c = runCall{done: c.done}
		runCallPool.Put(c)
		return out, err
	}
}
