package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/adapters/realtime/redis"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// newBus opens a bus on addr with the channel prefix, closed at test end.
func newBus(t testing.TB, addr, prefix string) *redis.Bus {
	t.Helper()
	b, err := redis.New(redis.Config{ChannelPrefix: prefix, HealthCheck: time.Second},
		redisconn.Config{URL: "redis://" + addr}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBusSuite(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	rt.BusSuite(t, func(t testing.TB) func() realtime.Bus {
		prefix := testenv.Prefix(t)
		return func() realtime.Bus { return newBus(t, addr, prefix) }
	})
}

// Two API instances on one Redis, the event published by a third process's
// bus (cmd/worker): it reaches the socket on the instance that holds it,
// and only that user's socket.
func TestEventReachesTheInstanceHoldingTheSocket(t *testing.T) {
	t.Parallel()
	addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
	a := rt.StartServer(t, realtime.Config{}, newBus(t, addr, prefix), rt.Options{})
	b := rt.StartServer(t, realtime.Config{}, newBus(t, addr, prefix), rt.Options{})
	worker := realtime.NewPublisher(newBus(t, addr, prefix))
	onA := a.Connect(t, 1)
	onB := b.Connect(t, 2)
	ctx := context.Background()
	if err := worker.Publish(ctx, 2, map[string]any{"type": "NEW_BADGE", "userId": 2, "badgeIcon": "🎯"}); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.Read(t, onB, 5*time.Second)); got != `{"badgeIcon":"🎯","type":"NEW_BADGE","userId":2}` {
		t.Fatalf("instance B got %s", got)
	}
	if err := worker.Publish(ctx, 1, map[string]any{"marker": 1}); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.Read(t, onA, 5*time.Second)); got != `{"marker":1}` {
		t.Fatalf("instance A got %s first, want only user 1's marker", got)
	}
	if a.Hub.Connections(2) != 0 || b.Hub.Connections(1) != 0 {
		t.Fatal("sockets on the wrong hub")
	}
}

// frames reads c in the background (a read deadline would break the
// connection for good, so waiting is done on the channel).
func frames(c *websocket.Conn) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			ch <- string(b)
		}
	}()
	return ch
}

// publishUntilReceived publishes numbered events until one arrives (pub/sub
// drops what is published before the subscription is back).
func publishUntilReceived(t *testing.T, pub realtime.Publisher, user int64, got <-chan string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = pub.Publish(ctx, user, map[string]int{"n": i}) // fails while Redis is down
		cancel()
		select {
		case f, ok := <-got:
			if !ok {
				t.Fatal("socket closed")
			}
			if f[:5] != `{"n":` {
				t.Fatalf("frame %s", f)
			}
			return
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery within %s", timeout)
		}
	}
}

func TestDeliveryResumesAfterRedisRestart(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	prefix := testenv.Prefix(t)
	s := rt.StartServer(t, realtime.Config{}, newBus(t, srv.Addr(), prefix), rt.Options{})
	pub := realtime.NewPublisher(newBus(t, srv.Addr(), prefix))
	got := frames(s.Connect(t, 9))
	publishUntilReceived(t, pub, 9, got, 5*time.Second)

	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, 9, map[string]int{"n": -1}); err == nil {
		t.Fatal("publish with Redis down reported success")
	}
	srv.Start()
	publishUntilReceived(t, pub, 9, got, 15*time.Second)
	if s.Hub.Connections(9) != 1 {
		t.Fatal("socket lost across the Redis restart")
	}
}

func TestSubscribeWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	srv.Kill()
	prefix := testenv.Prefix(t)
	start := time.Now()
	s := rt.StartServer(t, realtime.Config{}, newBus(t, srv.Addr(), prefix), rt.Options{})
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("start took %s with Redis down", d)
	}
	got := frames(s.Connect(t, 3))
	srv.Start()
	publishUntilReceived(t, realtime.NewPublisher(newBus(t, srv.Addr(), prefix)), 3, got, 15*time.Second)
}

func TestMalformedMessagesAreIgnored(t *testing.T) {
	t.Parallel()
	addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
	s := rt.StartServer(t, realtime.Config{}, newBus(t, addr, prefix), rt.Options{})
	c := s.Connect(t, 4)
	cl, err := redisconn.NewClient(redisconn.Config{URL: "redis://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ch := redis.Config{ChannelPrefix: prefix}.Channel()
	for _, junk := range []string{"not json", `{"userId":0,"payload":{}}`, `{"userId":4,"payload":[1]}`, `{"userId":4}`} {
		if err := cl.Publish(context.Background(), ch, junk).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Publish(context.Background(), ch, fmt.Sprintf(`{"userId":4,"payload":{"ok":%d}}`, 1)).Err(); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.Read(t, c, 5*time.Second)); got != `{"ok":1}` {
		t.Fatalf("got %s", got)
	}
}

// blackhole is a TCP proxy to Redis that can silently stop forwarding on
// the connections it has (as a NAT or firewall that forgot them does), while
// new connections still work.
type blackhole struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen []*atomic.Bool
}

func newBlackhole(t *testing.T, upstream string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackhole{ln: ln}
	var wg sync.WaitGroup
	var conns []net.Conn
	var cmu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn, frozen *atomic.Bool) {
		defer wg.Done()
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if !frozen.Load() {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			frozen := &atomic.Bool{}
			p.mu.Lock()
			p.frozen = append(p.frozen, frozen)
			p.mu.Unlock()
			cmu.Lock()
			conns = append(conns, c, up)
			cmu.Unlock()
			wg.Add(2)
			go pipe(up, c, frozen)
			go pipe(c, up, frozen)
		}
	})
	return p
}

func (p *blackhole) Addr() string { return p.ln.Addr().String() }

// freeze drops, from now on, everything on the connections open so far.
func (p *blackhole) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.frozen {
		f.Store(true)
	}
}

// A subscription whose connection goes silent without being closed is
// replaced after two health-check intervals.
func TestSilentConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
	proxy := newBlackhole(t, addr)
	sub, err := redis.New(redis.Config{ChannelPrefix: prefix, HealthCheck: 200 * time.Millisecond},
		redisconn.Config{URL: "redis://" + proxy.Addr()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	s := rt.StartServer(t, realtime.Config{}, sub, rt.Options{})
	pub := realtime.NewPublisher(newBus(t, addr, prefix))
	got := frames(s.Connect(t, 5))
	publishUntilReceived(t, pub, 5, got, 5*time.Second)
	proxy.freeze()
	publishUntilReceived(t, pub, 5, got, 10*time.Second)
}

// A batch is published in one pipeline: every event arrives, in order,
// and a closed bus refuses the batch.
func TestPublishBatch(t *testing.T) {
	t.Parallel()
	addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
	sub, pub := newBus(t, addr, prefix), newBus(t, addr, prefix)
	got := make(chan realtime.Event, 10)
	stop, err := sub.Subscribe(t.Context(), func(ev realtime.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	evs := []realtime.Event{{UserID: 1, Payload: []byte(`{"n":1}`)}, {UserID: 2, Payload: []byte(`{"n":2}`)}, {UserID: 1, Payload: []byte(`{"n":3}`)}}
	if err := realtime.NewPublisher(pub).PublishBatch(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	for i, want := range evs {
		select {
		case ev := <-got:
			if ev.UserID != want.UserID || string(ev.Payload) != string(want.Payload) {
				t.Fatalf("event %d: %d %s, want %d %s", i, ev.UserID, ev.Payload, want.UserID, want.Payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never arrived", i)
		}
	}
	_ = pub.Close()
	if err := pub.PublishBatch(t.Context(), evs); !errors.Is(err, realtime.ErrClosed) {
		t.Fatalf("batch on a closed bus: %v", err)
	}
}
