// Package realtimetest helps test the realtime port: a real Fiber server
// with a hub on 127.0.0.1, websocket clients, and a suite every Bus
// implementation runs.
package realtimetest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/realtime"
)

// Server is a started API server whose only route is the hub's /ws.
type Server struct {
	Hub      *realtime.Hub
	Verifier *auth.Verifier
	HTTP     *httpserver.Server
	Registry *prometheus.Registry
	// URL is ws://127.0.0.1:port/ws.
	URL string
	// Base is http://127.0.0.1:port.
	Base string
}

// Options tune StartServer.
type Options struct {
	// Production selects the production origin policy.
	Production bool
	// Log receives the server's logs (default: discarded).
	Log *slog.Logger
	// Auth configures the verifier (default: the development secret,
	// default leeway).
	Auth auth.Config
	// History, when set, serves replays.
	History realtime.History
	// Presence, when set, is the hub's presence store.
	Presence realtime.PresenceStore
	// RateLimit is the server's http.rate_limit (default: the defaults;
	// a test that opens hundreds of sockets at once turns it off).
	RateLimit httpserver.RateLimitConfig
}

// StartServer starts a real server on 127.0.0.1:0 with a hub configured by
// cfg, subscribed to bus when bus is not nil. Everything is shut down when
// the test ends, sockets first (as the fx module orders it).
func StartServer(t testing.TB, cfg realtime.Config, bus realtime.Bus, opts Options) *Server {
	t.Helper()
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	m, err := realtime.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := realtime.NewHub(cfg, log, m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(opts.Auth, false)
	if err != nil {
		t.Fatal(err)
	}
	if opts.History != nil {
		hub.SetHistory(opts.History)
	}
	if opts.Presence != nil {
		hub.SetPresence(opts.Presence)
	}
	srv, err := httpserver.New("test", httpserver.Config{Addr: "127.0.0.1:0", RateLimit: opts.RateLimit}, log, reg, reg,
		health.NewRegistry(nil, 0), []httpserver.Routes{
			realtime.NewHandler(hub, v, opts.Production),
			realtime.NewSocketIOHandler(hub, v, opts.Production),
			realtime.NewPresenceHandler(hub, v),
		})
	if err != nil {
		t.Fatal(err)
	}
	if bus != nil {
		if err := hub.Subscribe(context.Background(), bus); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		hub.Unsubscribe()
		_ = srv.Stop(ctx)
	})
	return &Server{Hub: hub, Verifier: v, HTTP: srv, Registry: reg, URL: "ws://" + srv.Addr().String() + realtime.Path,
		Base: "http://" + srv.Addr().String()}
}

// Token issues a user token valid for an hour.
func (s *Server) Token(t testing.TB, userID int64) string {
	t.Helper()
	return s.TokenFor(t, userID, time.Hour)
}

// TokenFor issues a user token valid for ttl.
func (s *Server) TokenFor(t testing.TB, userID int64, ttl time.Duration) string {
	t.Helper()
	tok, err := s.Verifier.Issue(userID, auth.RoleUser, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Connect opens a socket for userID (token in the Authorization header)
// and waits until the hub lists it, so events published afterwards reach
// it. The socket is closed when the test ends.
func (s *Server) Connect(t testing.TB, userID int64) *websocket.Conn {
	t.Helper()
	before := s.Hub.Connections(userID)
	c, resp, err := Dial(s.URL, http.Header{"Authorization": {"Bearer " + s.Token(t, userID)}})
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, Status(resp))
	}
	t.Cleanup(func() { _ = c.Close() })
	WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(userID) > before }, "socket of user %d registered", userID)
	return c
}

// Counter reads a counter or gauge of the server's registry (labels as
// name=value pairs); 0 when absent.
func (s *Server) Counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// Dial opens a websocket with a 5 s handshake timeout.
func Dial(url string, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial(url, h)
}

// Status describes a handshake response for failure messages.
func Status(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

// ErrorOf decodes the error JSON of a refused handshake.
func ErrorOf(t testing.TB, resp *http.Response) httpserver.ErrorDetail {
	t.Helper()
	if resp == nil {
		t.Fatal("no handshake response")
	}
	var b httpserver.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatalf("error body of %s: %v", resp.Status, err)
	}
	return b.Error
}

// Read reads one text frame within timeout.
func Read(t testing.TB, c *websocket.Conn, timeout time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", typ)
	}
	return b
}

// ReadUntil reads frames until one equals last (included) and returns
// them all, failing after timeout.
func ReadUntil(t testing.TB, c *websocket.Conn, last string, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []string
	for {
		f := string(Read(t, c, time.Until(deadline)))
		got = append(got, f)
		if f == last {
			return got
		}
	}
}

// CloseCode reads until the connection ends and returns the close code the
// server sent (websocket.CloseAbnormalClosure, 1006, if none).
func CloseCode(t testing.TB, c *websocket.Conn, timeout time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if strings.Contains(err.Error(), "timeout") {
			t.Fatalf("connection not closed within %s", timeout)
		}
		return websocket.CloseAbnormalClosure
	}
}

// WaitFor polls cond every 2 ms until it holds, failing after timeout.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msgf string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: "+msgf, append([]any{timeout}, args...)...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
