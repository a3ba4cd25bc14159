package realtime_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

func ev(user int64, s string) realtime.Event { return realtime.Event{UserID: user, Payload: []byte(s)} }

func TestTokenViaHeaderOrQuery(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{})
	viaHeader := s.Connect(t, 7)

	c, resp, err := rt.Dial(s.URL+"?token="+s.Token(t, 8), nil)
	if err != nil {
		t.Fatalf("dial with ?token=: %v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(8) == 1 }, "query-token socket registered")

	s.Hub.Deliver(ev(7, `{"type":"A","n":7}`))
	s.Hub.Deliver(ev(8, `{"type":"A","n":8}`))
	if got := string(rt.Read(t, viaHeader, 5*time.Second)); got != `{"type":"A","n":7}` {
		t.Fatalf("user 7 got %s", got)
	}
	if got := string(rt.Read(t, c, 5*time.Second)); got != `{"type":"A","n":8}` {
		t.Fatalf("user 8 got %s", got)
	}
}

type refusal struct {
	name   string
	url    string
	header http.Header
	status int
	code   string
}

func TestUpgradeRefusals(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{})
	prod := rt.StartServer(t, realtime.Config{}, nil, rt.Options{Production: true})
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "1", "role": "user", "iss": "tipbox", "exp": time.Now().Add(-time.Hour).Unix(),
	}).SignedString([]byte(auth.DevSecret))
	if err != nil {
		t.Fatal(err)
	}
	other, err := auth.NewVerifier(auth.Config{JWTSecret: strings.Repeat("x", 40)}, false)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Issue(1, auth.RoleUser, time.Hour)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	cases := []refusal{
		{"no token", s.URL, nil, 401, "unauthorized"},
		{"garbage token", s.URL + "?token=abc", nil, 401, "unauthorized"},
		{"expired token", s.URL, bearer(expired), 401, "unauthorized"},
		{"token of another secret", s.URL, bearer(foreign), 401, "unauthorized"},
		{"malformed header", s.URL, http.Header{"Authorization": {"Basic abc"}}, 401, "unauthorized"},
		{"bad header beats good query", s.URL + "?token=" + s.Token(t, 1), bearer("nope"), 401, "unauthorized"},
		{"cross-site origin in production", prod.URL, http.Header{
			"Authorization": {"Bearer " + prod.Token(t, 1)}, "Origin": {"https://evil.example"}}, 403, "forbidden"},
	}
	t.Run("group", func(t *testing.T) { refusals(t, s, prod, cases) })
	// Refused or failed upgrades leave no registration behind.
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Len() == 0 && prod.Hub.Len() == 0 }, "no stale registration")
}

func refusals(t *testing.T, s, prod *rt.Server, cases []refusal) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, resp, err := rt.Dial(tc.url, tc.header)
			if err == nil {
				c.Close()
				t.Fatal("upgrade accepted")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d", rt.Status(resp), tc.status)
			}
			if e := rt.ErrorOf(t, resp); e.Code != tc.code || e.Message == "" {
				t.Fatalf("error %+v", e)
			}
		})
	}
	t.Run("same origin in production", func(t *testing.T) {
		t.Parallel()
		host := strings.TrimPrefix(strings.TrimSuffix(prod.URL, realtime.Path), "ws://")
		c, resp, err := rt.Dial(prod.URL, http.Header{"Authorization": {"Bearer " + prod.Token(t, 1)}, "Origin": {"http://" + host}})
		if err != nil {
			t.Fatalf("%v (%s)", err, rt.Status(resp))
		}
		c.Close()
	})
	t.Run("any origin in development", func(t *testing.T) {
		t.Parallel()
		c, resp, err := rt.Dial(s.URL, http.Header{"Authorization": {"Bearer " + s.Token(t, 1)}, "Origin": {"https://elsewhere.example"}})
		if err != nil {
			t.Fatalf("%v (%s)", err, rt.Status(resp))
		}
		c.Close()
	})
	for name, hdr := range map[string]map[string]string{
		"plain GET is 426":             {},
		"upgrade without key is 426":   {"Connection": "Upgrade", "Upgrade": "websocket"},
		"upgrade with bad version 426": {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(s.URL, "ws"), nil)
			req.Header.Set("Authorization", "Bearer "+s.Token(t, 1))
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if e := rt.ErrorOf(t, resp); resp.StatusCode != 426 || e.Code != "upgrade_required" {
				t.Fatalf("%d %+v", resp.StatusCode, e)
			}
		})
	}
}

// Two users, several sockets each, events interleaved from many goroutines:
// every socket gets exactly its own user's events, each once.
func TestEachSocketGetsOnlyItsUsersEvents(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{SendBuffer: 1024}, nil, rt.Options{})
	socks := map[int64][]*websocket.Conn{
		1: {s.Connect(t, 1), s.Connect(t, 1), s.Connect(t, 1)},
		2: {s.Connect(t, 2), s.Connect(t, 2)},
	}
	const perUser = 200
	var wg sync.WaitGroup
	for _, u := range []int64{1, 2} {
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < perUser; i += 4 {
					s.Hub.Deliver(ev(u, fmt.Sprintf(`{"u":%d,"i":%d}`, u, i)))
				}
			})
		}
	}
	wg.Wait()
	for u, cs := range socks {
		s.Hub.Deliver(ev(u, fmt.Sprintf(`{"u":%d,"end":true}`, u)))
		for _, c := range cs {
			got := rt.ReadUntil(t, c, fmt.Sprintf(`{"u":%d,"end":true}`, u), 10*time.Second)
			got = got[:len(got)-1]
			if len(got) != perUser {
				t.Fatalf("user %d socket got %d frames, want %d", u, len(got), perUser)
			}
			seen := map[string]bool{}
			for _, f := range got {
				if !strings.HasPrefix(f, fmt.Sprintf(`{"u":%d,`, u)) || seen[f] {
					t.Fatalf("user %d socket got %s (duplicate: %v)", u, f, seen[f])
				}
				seen[f] = true
			}
		}
	}
	// The counter moves just after the write returns.
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Counter(t, "tipbox_realtime_events_delivered_total") == 5*perUser+5 },
		"delivered counter %v, want %d", s.Counter(t, "tipbox_realtime_events_delivered_total"), 5*perUser+5)
}

// A client that stops reading is dropped; others keep receiving promptly,
// and Deliver never blocks.
func TestSlowConsumerIsDroppedWithoutBlockingOthers(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{SendBuffer: 4, WriteTimeout: 5 * time.Second}, nil, rt.Options{})
	slow := s.Connect(t, 1) // never read until the end
	fast := s.Connect(t, 2)
	big := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	start := time.Now()
	for range 500 { // 32 MB: more than the socket buffers can hold
		s.Hub.Deliver(ev(1, big))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Deliver blocked: %s for 500 events", d)
	}
	// Meanwhile the other user's frames arrive at once, one by one.
	for i := range 50 {
		want := fmt.Sprintf(`{"i":%d}`, i)
		s.Hub.Deliver(ev(2, want))
		if got := string(rt.Read(t, fast, time.Second)); got != want {
			t.Fatalf("fast consumer got %s, want %s", got, want)
		}
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 0 }, "slow consumer dropped")
	if d := s.Counter(t, "tipbox_realtime_events_dropped_total", "reason", "buffer_full"); d < 1 {
		t.Fatalf("dropped counter %v", d)
	}
	if n := s.Counter(t, "tipbox_realtime_disconnects_total", "reason", "slow_consumer"); n != 1 {
		t.Fatalf("slow_consumer disconnects %v", n)
	}
	// The slow client eventually sees its connection end.
	_ = rt.CloseCode(t, slow, 10*time.Second)
	if s.Hub.Connections(2) != 1 {
		t.Fatal("fast consumer was dropped too")
	}
}

// A peer that stops answering pings is dropped after ping_interval +
// pong_timeout; a peer that answers stays.
func TestHeartbeatDropsDeadPeer(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{PingInterval: 40 * time.Millisecond, PongTimeout: 60 * time.Millisecond}, nil, rt.Options{})
	start := time.Now() // the server's read deadline starts after this
	dead := s.Connect(t, 1)
	dead.SetPingHandler(func(string) error { return nil }) // reads, never pongs
	alive := s.Connect(t, 2)
	aliveErr := make(chan error, 1)
	go func() { // the default ping handler answers while reading
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				aliveErr <- err
				return
			}
		}
	}()
	code := rt.CloseCode(t, dead, 5*time.Second)
	if code == websocket.CloseGoingAway {
		t.Fatalf("dead peer closed with %d", code)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 0 }, "dead peer unregistered")
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("dropped after %s, before ping_interval+pong_timeout", el)
	}
	if n := s.Counter(t, "tipbox_realtime_disconnects_total", "reason", "heartbeat"); n != 1 {
		t.Fatalf("heartbeat disconnects %v", n)
	}
	select {
	case err := <-aliveErr:
		t.Fatalf("live peer dropped: %v", err)
	default:
	}
	if s.Hub.Connections(2) != 1 {
		t.Fatal("live peer unregistered")
	}
}

func TestShutdownClosesWith1001AndRefusesNewSockets(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{})
	conns := []*websocket.Conn{s.Connect(t, 1), s.Connect(t, 1), s.Connect(t, 2)}
	s.Hub.Deliver(ev(1, `{"last":true}`)) // queued frames are flushed before the close
	codes := make([]int, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { codes[i] = rt.CloseCode(t, c, 5*time.Second) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !slices.Equal(codes, []int{1001, 1001, 1001}) {
		t.Fatalf("close codes %v", codes)
	}
	if s.Hub.Connections(1)+s.Hub.Connections(2) != 0 {
		t.Fatal("sockets still registered")
	}
	_, resp, err := rt.Dial(s.URL, http.Header{"Authorization": {"Bearer " + s.Token(t, 1)}})
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("upgrade during shutdown: %v %s", err, rt.Status(resp))
	}
}
