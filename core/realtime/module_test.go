package realtime_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

// localBus is a minimal in-process bus, so core's tests need no adapter.
type localBus struct {
	mu   sync.RWMutex
	subs map[*func(realtime.Event)]bool
}

func (b *localBus) Publish(_ context.Context, ev realtime.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for h := range b.subs {
		(*h)(ev)
	}
	return nil
}

func (b *localBus) Subscribe(_ context.Context, h func(realtime.Event)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[&h] = true
	return func() { b.mu.Lock(); delete(b.subs, &h); b.mu.Unlock() }, nil
}

func (b *localBus) Close() error { return nil }

var testDriver = realtime.AsDriver(func() realtime.Driver {
	return realtime.Driver{Name: "local", Open: func(context.Context) (realtime.Bus, error) {
		return &localBus{subs: map[*func(realtime.Event)]bool{}}, nil
	}}
})

// msgLog records log messages in order.
type msgLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *msgLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *msgLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *msgLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *msgLog) WithGroup(string) slog.Handler      { return l }

func (l *msgLog) index(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Index(l.msgs, msg)
}

func newApp(t *testing.T, yaml string, populate ...any) (*fx.App, *msgLog, error) {
	t.Helper()
	src, err := config.Parse("test.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &msgLog{}
	a, err := app.New(src, testDriver, realtime.Module, realtime.HubModule, httpserver.Module, fx.NopLogger,
		fx.Decorate(func() *slog.Logger { return slog.New(logs) }), fx.Populate(populate...))
	return a, logs, err
}

// The module wired as cmd/api wires it: a Publisher call reaches the
// socket, and stopping the app closes the socket with 1001 before the HTTP
// server stops.
func TestModulePublishAndStop(t *testing.T) {
	t.Parallel()
	var (
		srv *httpserver.Server
		pub realtime.Publisher
		hub *realtime.Hub
		v   *auth.Verifier
	)
	a, logs, err := newApp(t, "http: {addr: '127.0.0.1:0'}\nrealtime: {driver: local}\n", &srv, &pub, &hub, &v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tok, _ := v.Issue(5, auth.RoleUser, time.Hour)
	c, resp, err := rt.Dial("ws://"+srv.Addr().String()+realtime.Path+"?token="+tok, nil)
	if err != nil {
		t.Fatalf("%v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	rt.WaitFor(t, 5*time.Second, func() bool { return hub.Connections(5) == 1 }, "registered")
	payload := map[string]any{"type": "NEW_BADGE", "userId": 5, "badgeIcon": "🎯"}
	if err := pub.Publish(ctx, 5, payload); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.Read(t, c, 5*time.Second)); got != `{"badgeIcon":"🎯","type":"NEW_BADGE","userId":5}` {
		t.Fatalf("frame %s", got)
	}
	if err := pub.Publish(ctx, 6, map[string]any{"type": "X"}); err != nil {
		t.Fatalf("offline user: %v", err)
	}
	code := make(chan int, 1)
	go func() { code <- rt.CloseCode(t, c, 10*time.Second) }()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-code; got != 1001 {
		t.Fatalf("close code %d", got)
	}
	if _, err := http.Get("http://" + srv.Addr().String() + "/healthz"); err == nil {
		t.Fatal("server still listening after stop")
	}
	// Sockets were closed before the HTTP server began its shutdown.
	closing, stopped := logs.index("closing websockets"), logs.index("http server stopped")
	if closing < 0 || stopped < 0 || closing > stopped {
		t.Fatalf("stop order: closing websockets at %d, http server stopped at %d", closing, stopped)
	}
}

func TestModuleConfigErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"realtime: {driver: nats}\n":                                      `realtime.driver: "nats" is not one of local`,
		"realtime: {driver: local, send_buffer: -1}\n":                    "realtime.send_buffer: -1 must be at least 1",
		"realtime: {driver: local, allowed_origins: [example.com]}\n":     `realtime.allowed_origins: "example.com" is not an origin`,
		"realtime: {driver: local, ping_interval: soon}\n":                "realtime.ping_interval: cannot use",
		"realtime: {driver: local, pong_timeout: -1s}\n":                  "realtime.pong_timeout: -1s must be positive",
		"realtime: {driver: local, allowed_origins: ['https://a.b/x']}\n": "is not an origin",
	}
	for yaml, want := range cases {
		t.Run(want, func(t *testing.T) {
			t.Parallel()
			a, _, err := newApp(t, "http: {addr: '127.0.0.1:0'}\n"+yaml)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err = a.Start(ctx)
				_ = a.Stop(ctx)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if strings.Contains(want, "not one of") && !errors.Is(err, realtime.ErrUnknownDriver) {
				t.Fatalf("%v is not ErrUnknownDriver", err)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	t.Parallel()
	for _, bad := range []any{"text", []int{1}, []byte(`[1]`), []byte(`{"a":`), nil, func() {}} {
		if _, err := realtime.NewEvent(1, bad); !errors.Is(err, realtime.ErrInvalidEvent) {
			t.Errorf("payload %#v: %v", bad, err)
		}
	}
	if _, err := realtime.NewEvent(0, map[string]int{}); !errors.Is(err, realtime.ErrInvalidEvent) {
		t.Errorf("user 0: %v", err)
	}
	ev, err := realtime.NewEvent(3, []byte(" {\"a\":1}\n"))
	if err != nil || string(ev.Payload) != `{"a":1}` || ev.UserID != 3 {
		t.Fatalf("%+v %v", ev, err)
	}
	ev, err = realtime.NewEvent(3, struct {
		Type string `json:"type"`
	}{"NEW_BADGE"})
	if err != nil || string(ev.Payload) != `{"type":"NEW_BADGE"}` {
		t.Fatalf("%+v %v", ev, err)
	}
}
