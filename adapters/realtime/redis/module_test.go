package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/realtime/memory"
	"github.com/tipbox/tipbox/adapters/realtime/redis"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

func start(t *testing.T, a *fx.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
}

// The Redis profile's wiring, as the programs use it: two "cmd/api" apps
// (hub + route) and one "cmd/worker" app (Publisher only) on one Redis.
func TestRedisProfileWiring(t *testing.T) {
	t.Parallel()
	addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
	profile := fmt.Sprintf("log: {level: error}\nhttp: {addr: '127.0.0.1:0'}\nredis: {url: 'redis://%s'}\n"+
		"realtime: {driver: redis, redis: {channel_prefix: '%s'}}\n", addr, prefix)
	drivers := fx.Options(redisconn.Module, memory.Module, redis.Module, realtime.Module)
	type api struct {
		srv *httpserver.Server
		v   *auth.Verifier
	}
	var apis [2]api
	for i := range apis {
		src, err := config.Parse("redis.yaml", []byte(profile), nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(src, drivers, realtime.HubModule, httpserver.Module, fx.NopLogger, fx.Populate(&apis[i].srv, &apis[i].v))
		if err != nil {
			t.Fatal(err)
		}
		start(t, a)
	}
	src, err := config.Parse("redis.yaml", []byte(profile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub realtime.Publisher
	w, err := app.New(src, drivers, config.Provide[httpserver.Config]("http"), fx.NopLogger, fx.Populate(&pub))
	if err != nil {
		t.Fatal(err)
	}
	start(t, w)

	tok, _ := apis[1].v.Issue(11, auth.RoleUser, time.Hour)
	c, resp, err := rt.Dial("ws://"+apis[1].srv.Addr().String()+realtime.Path, map[string][]string{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("%v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	if err := pub.Publish(context.Background(), 11, map[string]any{"type": "NEW_BADGE", "userId": 11}); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.Read(t, c, 5*time.Second)); got != `{"type":"NEW_BADGE","userId":11}` {
		t.Fatalf("frame %s", got)
	}
}
