package realtime_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

// With the defaults a user holds at most 300 sockets: the 301st is refused
// with 429 before any upgrade; other users are unaffected; a closed socket
// frees its slot. (300 upgrades at once are over http.rate_limit's
// default burst of 200 a user: limits are off here.)
func TestThe301stSocketOfAUserIsRefused(t *testing.T) {
	t.Parallel()
	off := 0
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{RateLimit: httpserver.RateLimitConfig{RPS: &off}})
	hdr := http.Header{"Authorization": {"Bearer " + s.Token(t, 1)}}
	conns := make([]*websocket.Conn, 0, 300)
	for i := range 300 {
		c, resp, err := rt.Dial(s.URL, hdr)
		if err != nil {
			t.Fatalf("socket %d: %v (%s)", i+1, err, rt.Status(resp))
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	_, resp, err := rt.Dial(s.URL, hdr)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("301st socket: err %v, %s; want 429", err, rt.Status(resp))
	}
	if e := rt.ErrorOf(t, resp); e.Code != "too_many_sockets" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("301st socket: %+v, Retry-After %q", e, resp.Header.Get("Retry-After"))
	}
	if got := s.Counter(t, "tipbox_realtime_sockets_refused_total", "limit", "max_sockets_per_user"); got != 1 {
		t.Fatalf("refused counter %v", got)
	}
	s.Connect(t, 2) // another user is not affected
	_ = conns[0].Close()
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 299 }, "a closed socket leaves")
	c, resp, err := rt.Dial(s.URL, hdr)
	if err != nil {
		t.Fatalf("after a close: %v (%s)", err, rt.Status(resp))
	}
	_ = c.Close()
}

func TestInstanceSocketCap(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{MaxSockets: 2}, nil, rt.Options{})
	s.Connect(t, 1)
	s.Connect(t, 2)
	_, resp, err := rt.Dial(s.URL+"?token="+s.Token(t, 3), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third socket: %v %s, want 503", err, rt.Status(resp))
	}
}

// A socket does not outlive its token: a 2 s token's socket is closed with
// 1008 once the token expires plus the leeway, not before.
func TestSocketClosedWith1008AtTokenExpiry(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{Auth: auth.Config{Leeway: time.Second}})
	tok := s.TokenFor(t, 1, 2*time.Second)
	start := time.Now()
	c, resp, err := rt.Dial(s.URL+"?token="+tok, nil)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	code := rt.CloseCode(t, c, 10*time.Second)
	elapsed := time.Since(start)
	if code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
	// exp is whole seconds: 1-2 s from now, plus 1 s of leeway.
	if elapsed < 1500*time.Millisecond {
		t.Fatalf("closed after %s, before the token expired", elapsed)
	}
	rt.WaitFor(t, 5*time.Second, func() bool {
		return s.Counter(t, "tipbox_realtime_disconnects_total", "reason", "token_expired") == 1
	}, "disconnect counted as token_expired")
}

// A client extends its socket by sending a fresh token before expiry; a
// token of another user, or garbage, closes it with 1008.
func TestRefreshedSocketStaysOpen(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{Auth: auth.Config{Leeway: time.Second}})
	dial := func(user int64, ttl time.Duration) *websocket.Conn {
		c, resp, err := rt.Dial(s.URL+"?token="+s.TokenFor(t, user, ttl), nil)
		if err != nil {
			t.Fatalf("dial: %v (%s)", err, rt.Status(resp))
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	refreshed, control := dial(1, 2*time.Second), dial(1, 2*time.Second)
	if err := refreshed.WriteJSON(map[string]string{"type": "auth", "token": s.Token(t, 1)}); err != nil {
		t.Fatal(err)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Counter(t, "tipbox_realtime_token_refreshes_total") == 1 }, "refresh taken")
	if code := rt.CloseCode(t, control, 10*time.Second); code != websocket.ClosePolicyViolation {
		t.Fatalf("unrefreshed socket: close code %d, want 1008", code)
	}
	// Past the first token's expiry the refreshed socket still gets events.
	s.Hub.Deliver(ev(1, `{"type":"A","id":"1"}`))
	if got := string(rt.Read(t, refreshed, 5*time.Second)); got != `{"type":"A","id":"1"}` {
		t.Fatalf("refreshed socket got %s", got)
	}

	for name, tok := range map[string]string{"another user's token": s.Token(t, 2), "garbage": "nonsense"} {
		c := dial(1, time.Hour)
		if err := c.WriteJSON(map[string]string{"type": "auth", "token": tok}); err != nil {
			t.Fatal(err)
		}
		if code := rt.CloseCode(t, c, 5*time.Second); code != websocket.ClosePolicyViolation {
			t.Fatalf("refresh with %s: close code %d, want 1008", name, code)
		}
	}
}

// A client that floods frames is closed with 1008 (too many messages);
// one over max_message_bytes with 1009; the user's other socket and the
// server go on.
func TestInboundFloodAndSize(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{MaxMessagesPerSecond: 5}, nil, rt.Options{})
	calm := s.Connect(t, 1)
	flood := s.Connect(t, 1)
	go func() {
		for i := range 10_000 {
			if flood.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"n":%d}`, i)) != nil {
				return
			}
		}
	}()
	if code := rt.CloseCode(t, flood, 10*time.Second); code != websocket.ClosePolicyViolation {
		t.Fatalf("flooding socket: close code %d, want 1008", code)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 1 }, "flooding socket gone")
	big := s.Connect(t, 1)
	if err := big.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 5000))); err != nil {
		t.Fatal(err)
	}
	if code := rt.CloseCode(t, big, 10*time.Second); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: close code %d, want 1009", code)
	}
	s.Hub.Deliver(ev(1, `{"type":"A"}`))
	if got := string(rt.Read(t, calm, 5*time.Second)); got != `{"type":"A"}` {
		t.Fatalf("calm socket got %s", got)
	}
	if got := s.Counter(t, "tipbox_realtime_disconnects_total", "reason", "rate_limited"); got != 1 {
		t.Fatalf("rate_limited disconnects %v", got)
	}
}

// limited is a server whose http.rate_limit allows 5 requests at once and
// 1 a second per caller.
func limited(t *testing.T) *rt.Server {
	t.Helper()
	one, five := 1, 5
	return rt.StartServer(t, realtime.Config{}, nil, rt.Options{RateLimit: httpserver.RateLimitConfig{RPS: &one, Burst: &five}})
}

// isRateLimited reports whether resp is the server's 429: rate_limited,
// with a Retry-After of at least a second.
func isRateLimited(t *testing.T, resp *http.Response) bool {
	t.Helper()
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if e := rt.ErrorOf(t, resp); err != nil || ra < 1 || e.Code != "rate_limited" {
		t.Fatalf("429 without Retry-After or code: %q %+v", resp.Header.Get("Retry-After"), e)
	}
	return true
}

// Every websocket upgrade request counts against http.rate_limit like an
// /api request: one over it is refused with 429 before its token is even
// checked; a caller is its user when ?token= is valid, else its IP.
func TestWebsocketUpgradesAreRateLimited(t *testing.T) {
	t.Parallel()
	s := limited(t)
	n := 0
	for range 20 {
		c, resp, err := rt.Dial(s.URL+"?token=nonsense", nil)
		if err == nil {
			c.Close()
			t.Fatal("upgrade accepted with a bad token")
		}
		if isRateLimited(t, resp) {
			n++
		} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token: %s, want 401 or 429", rt.Status(resp))
		}
	}
	if n < 14 {
		t.Fatalf("%d of 20 upgrades with a bad token limited, want at least 14 (burst 5, 1/s)", n)
	}
	// The IP is spent; a valid ?token= is its user's bucket.
	tok := s.Token(t, 7)
	n = 0
	for range 10 {
		c, resp, err := rt.Dial(s.URL+"?token="+tok, nil)
		switch {
		case err == nil:
			c.Close()
		case isRateLimited(t, resp):
			n++
		default:
			t.Fatalf("user 7: %v (%s)", err, rt.Status(resp))
		}
	}
	if n < 2 || n > 5 {
		t.Fatalf("%d of user 7's 10 upgrades limited, want 5 (fewer if tokens came back meanwhile)", n)
	}
}

// Every Socket.IO request counts: handshakes (by IP), and a session's
// posts and websocket upgrade (by its user once it is signed in); its
// polls, which the server paces, do not.
func TestSocketIORequestsAreRateLimited(t *testing.T) {
	t.Parallel()
	s := limited(t)
	base := s.Base + realtime.SocketIOPath + "?EIO=4&transport=polling"
	get := func(url string) *http.Response {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	post := func(url, body string) *http.Response {
		resp, err := http.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	// A session signed in as user 9: handshake and connect spend 2 of the
	// IP's 5; the poll that gets the connect answer is not counted.
	resp := get(base)
	open, _ := io.ReadAll(resp.Body)
	var hs struct {
		SID string `json:"sid"`
	}
	if resp.StatusCode != http.StatusOK || len(open) == 0 || json.Unmarshal(open[1:], &hs) != nil || hs.SID == "" {
		t.Fatalf("handshake: %d %s", resp.StatusCode, open)
	}
	session := base + "&sid=" + hs.SID
	if resp := post(session, `40{"token":"`+s.Token(t, 9)+`"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("connect: %d", resp.StatusCode)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(9) == 1 }, "user 9 joined")
	if b, _ := io.ReadAll(get(session).Body); !strings.HasPrefix(string(b), "40{") {
		t.Fatalf("poll: %s, want the connect answer", b)
	}
	n := 0
	for range 20 {
		resp := get(base)
		if isRateLimited(t, resp) {
			n++
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("handshake: %d", resp.StatusCode)
		}
	}
	if n < 15 {
		t.Fatalf("%d of 20 handshakes limited, want at least 15 (burst 5, 1/s, 2 spent)", n)
	}
	// The IP is spent; user 9's posts draw from its own bucket.
	n = 0
	for range 10 {
		resp := post(session, "6")
		if isRateLimited(t, resp) {
			n++
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("post: %d", resp.StatusCode)
		}
	}
	if n < 2 || n > 5 {
		t.Fatalf("%d of user 9's 10 posts limited, want 5 (fewer if tokens came back meanwhile)", n)
	}
	// Spent too: a poll of the session is not counted (it waits for the
	// server, here for an event), but an upgrade is, refused before it is
	// served with a plain HTTP 429, and so is a poll of an unknown session
	// (answered at once), by IP.
	s.Hub.Deliver(ev(9, `{"type":"A"}`))
	if resp := get(session); resp.StatusCode != http.StatusOK {
		t.Fatalf("poll of a signed-in session, its user over the limit: %d", resp.StatusCode)
	} else if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), `{"type":"A"}`) {
		t.Fatalf("poll: %s, want the event", b)
	}
	if resp := get(base + "&sid=nonsense"); !isRateLimited(t, resp) {
		t.Fatalf("poll of an unknown session over the limit: %d", resp.StatusCode)
	}
	ws := "ws" + strings.TrimPrefix(s.Base, "http") + realtime.SocketIOPath + "?EIO=4&transport=websocket&sid=" + hs.SID
	if c, resp, err := rt.Dial(ws, nil); err == nil {
		c.Close()
		t.Fatal("upgrade over the limit accepted")
	} else if !isRateLimited(t, resp) {
		t.Fatalf("upgrade over the limit: %v (%s)", err, rt.Status(resp))
	}
}
