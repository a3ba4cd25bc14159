package redisstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tipbox/tipbox/internal/testenv"
)

// TestRouterRunsInFlightHandlersConcurrently drives the transport through a
// Watermill Router, as the job engine does: InFlight handlers run at once
// on one subscription, a handler error (nack) is redelivered without holding
// up the rest, and closing the router waits for running handlers and leaves
// nothing pending.
func TestRouterRunsInFlightHandlersConcurrently(t *testing.T) {
	b := sharedBackend(t)
	c := b.client(t)
	topic := testenv.Prefix(t) + "{router}:jobs"
	cleanupKeys(t, c, topic)

	const inFlight, jobs = 10, 300
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(jobs, "")...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("w1")
	cfg.InFlight = inFlight
	sub := mustSubscriber(t, c, cfg)

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	var (
		active, maxActive atomic.Int32
		mu                sync.Mutex
		done              = map[string]bool{}
		failedOnce        = map[string]bool{}
	)
	router.AddConsumerHandler("jobs", topic, sub, func(msg *message.Message) error {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			m := maxActive.Load()
			if n <= m || maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // simulated work
		mu.Lock()
		defer mu.Unlock()
		if len(failedOnce) < 20 && !failedOnce[msg.UUID] {
			failedOnce[msg.UUID] = true
			return errors.New("transient")
		}
		done[msg.UUID] = true
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(ctx) }()

	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(done) == jobs
	}, "all %d jobs handled", jobs)
	if err := router.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if m := maxActive.Load(); m != inFlight {
		t.Fatalf("at most %d handlers ran at once, want InFlight=%d", m, inFlight)
	}
	if p := pendingCount(t, c, topic, "workers"); p != 0 {
		t.Fatalf("%d entries pending after the router closed", p)
	}
}
