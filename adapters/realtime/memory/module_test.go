package memory_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/realtime/memory"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

// The embedded profile's wiring: the default driver is memory, and a
// Publisher call in the process reaches the socket.
func TestEmbeddedWiring(t *testing.T) {
	t.Parallel()
	src, err := config.Parse("test.yaml", []byte("log: {level: error}\nhttp: {addr: '127.0.0.1:0'}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		srv *httpserver.Server
		pub realtime.Publisher
		hub *realtime.Hub
		v   *auth.Verifier
	)
	a, err := app.New(src, memory.Module, realtime.Module, realtime.HubModule, httpserver.Module,
		fx.NopLogger, fx.Populate(&srv, &pub, &hub, &v))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	tok, _ := v.Issue(1, auth.RoleUser, time.Hour)
	c, resp, err := rt.Dial("ws://"+srv.Addr().String()+realtime.Path+"?token="+tok, nil)
	if err != nil {
		t.Fatalf("%v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	if err := pub.Publish(ctx, 1, map[string]string{"type": "NEW_BADGE"}); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.Read(t, c, 5*time.Second)); got != `{"type":"NEW_BADGE"}` {
		t.Fatalf("frame %s", got)
	}
}
