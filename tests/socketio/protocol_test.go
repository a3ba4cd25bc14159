package socketio_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
	"github.com/tipbox/tipbox/internal/e2e"
)

// The token may come with the handshake instead of auth: {token}, as
// Authorization: Bearer (Node clients' extraHeaders) or ?token= (query);
// events go out under realtime.socketio.event. A bad handshake token is
// refused.
func TestHandshakeTokenAndEventName(t *testing.T) {
	t.Parallel()
	const event = "badge:new"
	r := newRig(t, realtime.Config{SocketIO: realtime.SocketIOConfig{Event: event}}, rt.Options{})
	header := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Event: event,
		ExtraHeaders: map[string]string{"Authorization": "Bearer " + r.Token(t, 31)}})
	query := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Event: event, Transports: []string{"websocket"},
		Query: map[string]string{"token": r.Token(t, 32)}})
	connect(t, header)
	connect(t, query)
	for user, c := range map[int64]*e2e.SIOClient{31: header, 32: query} {
		rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(user) == 1 }, "user %d joined", user)
		r.grant(t, user, 1)
		if g := decode(t, mustNotification(t, c)); g.UserID != user || g.BadgeID != 1 {
			t.Fatalf("user %d got %+v", user, g)
		}
	}
	bad := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Query: map[string]string{"token": "nonsense"}})
	if e, _ := bad.Until("connect_error", 10*time.Second); e.Message == "" {
		t.Fatalf("bad handshake token: %+v", e)
	}
	if n := r.Hub.Len(); n != 2 {
		t.Fatalf("hub holds %d sessions, want 2", n)
	}
}

// Other namespaces than "/" are refused with a connect error.
func TestOtherNamespaceRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{}, rt.Options{})
	c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Namespace: "/admin", Auth: map[string]any{"token": r.Token(t, 1)}})
	if e, _ := c.Until("connect_error", 10*time.Second); e.Message != "Invalid namespace" {
		t.Fatalf("namespace /admin: %+v", e)
	}
	if n := r.Hub.Connections(1); n != 0 {
		t.Fatalf("user joined with %d sockets", n)
	}
}

// The server pings every ping_interval as the handshake says: the real
// client, which drops a server silent for pingInterval + pingTimeout,
// stays connected on every transport over many intervals; a peer that
// does not answer the pings (though it sends other packets) is dropped
// after pong_timeout, counted as a heartbeat disconnect.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	// Short intervals, with a pong timeout wide enough for a loaded machine.
	cfg := realtime.Config{PingInterval: 250 * time.Millisecond, PongTimeout: time.Second}
	r := newRig(t, cfg, rt.Options{})
	var clients []*e2e.SIOClient
	for i, tr := range [][]string{nil, {"websocket"}, {"polling"}} {
		c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, int64(41+i))}, Transports: tr})
		connect(t, c)
		clients = append(clients, c)
	}
	for _, c := range clients {
		c.Quiet(2500*time.Millisecond, "upgrade", "open") // ten intervals: no "ping timeout" disconnect
	}
	for i := range clients {
		if n := r.Hub.Connections(int64(41 + i)); n != 1 {
			t.Fatalf("client %d: %d sockets after ten ping intervals", i, n)
		}
	}
	silent, err := rt.DialSocketIO(strings.Replace(r.Base, "http://", "ws://", 1), r.Token(t, 49))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(49) == 1 }, "silent peer joined")
	// It keeps sending noops, so only the missing pong can end it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if silent.WriteMessage(websocket.TextMessage, []byte("6")) != nil {
					return
				}
			}
		}
	}()
	start := time.Now()
	pings := 0
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := silent.ReadMessage()
		if err != nil {
			break // cut by the server
		}
		if string(msg) == "2" {
			pings++
		}
	}
	if pings != 1 {
		t.Fatalf("silent peer got %d pings before the cut, want 1", pings)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(49) == 0 }, "silent peer dropped")
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("silent peer dropped after %s, want about ping_interval + pong_timeout (1.25s)", d)
	}
	rt.WaitFor(t, 5*time.Second, func() bool {
		return r.Counter(t, "tipbox_realtime_disconnects_total", "reason", "heartbeat") == 1
	}, "one heartbeat disconnect")
}

// The limits of /ws hold on Socket.IO: a client that emits too fast is
// disconnected by the server (it does not reconnect by itself), on both
// transports; a long-polling POST over max_message_bytes gets 413; a full
// instance refuses the handshake with 503.
func TestLimits(t *testing.T) {
	t.Parallel()
	t.Run("flood", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, realtime.Config{MaxMessagesPerSecond: 5}, rt.Options{})
		calm := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 1)}})
		connect(t, calm)
		for i, tr := range [][]string{{"websocket"}, {"polling"}} {
			c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 1)}, Transports: tr})
			connect(t, c)
			c.Send(map[string]any{"cmd": "emit", "event": "hello", "data": map[string]int{"n": 1}, "n": 100})
			if e, _ := c.Until("disconnect", 10*time.Second); e.Reason != "io server disconnect" {
				t.Fatalf("%v: flooding client: disconnect %q", tr, e.Reason)
			}
			rt.WaitFor(t, 5*time.Second, func() bool {
				return r.Counter(t, "tipbox_realtime_disconnects_total", "reason", "rate_limited") == float64(i+1)
			}, "%v: %d rate_limited disconnects", tr, i+1)
		}
		rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(1) == 1 }, "only the calm client left")
		r.grant(t, 1, 1)
		if g := decode(t, mustNotification(t, calm)); g.BadgeID != 1 {
			t.Fatalf("calm client got %+v", g)
		}
	})
	t.Run("post too large", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, realtime.Config{}, rt.Options{})
		sid := handshake(t, r.Base, http.StatusOK)
		url := r.Base + realtime.SocketIOPath + "?EIO=4&transport=polling&sid=" + sid
		resp, err := http.Post(url, "text/plain", bytes.NewReader(bytes.Repeat([]byte("x"), 5000)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("5000-byte POST: %d, want 413", resp.StatusCode)
		}
		rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Len() == 0 }, "session closed")
	})
	t.Run("instance full", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, realtime.Config{MaxSockets: 1}, rt.Options{})
		handshake(t, r.Base, http.StatusOK) // not signed in yet, but it holds the slot
		handshake(t, r.Base, http.StatusServiceUnavailable)
		ws, resp, err := websocket.DefaultDialer.Dial(strings.Replace(r.Base, "http://", "ws://", 1)+realtime.SocketIOPath+"?EIO=4&transport=websocket", nil)
		if err == nil {
			ws.Close()
			t.Fatal("websocket handshake accepted on a full instance")
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("websocket handshake on a full instance: %v %s", err, rt.Status(resp))
		}
	})
}

// handshake opens an Engine.IO session by long-polling and returns its sid
// (when the status is 200).
func handshake(t *testing.T, base string, status int) string {
	t.Helper()
	resp, err := http.Get(base + realtime.SocketIOPath + "?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("handshake: %d %s, want %d", resp.StatusCode, body, status)
	}
	if status != http.StatusOK {
		return ""
	}
	var open struct {
		SID string `json:"sid"`
	}
	if len(body) == 0 || body[0] != '0' || json.Unmarshal(body[1:], &open) != nil || open.SID == "" {
		t.Fatalf("open packet %q", body)
	}
	return open.SID
}
