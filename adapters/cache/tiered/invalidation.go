package tiered

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// evict removes key from L1 and voids the L1 fills of its stripe in flight.
func (s *Store) evict(key string) {
	i := s.stripe(key)
	s.mu[i].Lock()
	s.gen[i].Add(1)
	s.l1.Delete(context.Background(), key) //nolint:errcheck // cannot fail on an open L1
	s.mu[i].Unlock()
}

// dropL1 empties L1 and invalidates every fill in flight.
func (s *Store) dropL1() {
	for i := range stripes {
		s.mu[i].Lock()
		s.gen[i].Add(1)
	}
	s.l1.Clear()
	for i := range stripes {
		s.mu[i].Unlock()
	}
}

// listen applies invalidations from other instances and tracks the
// subscription's health until ctx ends.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	backoff := 50 * time.Millisecond
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, 5*time.Second)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: make sure the connection is still there
				// (a reply, or the error, comes through ReceiveTimeout).
				if perr := s.ps.Ping(ctx); perr == nil {
					continue
				}
			}
			if s.live.CompareAndSwap(true, false) {
				s.dropL1()
				s.log.Error("cache tiered: invalidation subscription lost, L1 off until it is back", "err", err)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				s.dropL1() // invalidations may have been missed before this
				if !s.live.Swap(true) {
					s.log.Info("cache tiered: invalidation subscription live, L1 on", "channel", s.channel)
				}
			}
		case *goredis.Message:
			origin, key, ok := strings.Cut(m.Payload, " ")
			if ok && origin != s.id {
				s.evict(key)
			}
		}
	}
}
