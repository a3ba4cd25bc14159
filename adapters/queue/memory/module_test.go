package memory_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestModules boots the producer and worker modules on the memory driver
// the way cmd/api's embedded profile does, with a handler contributed
// through the value group.
func TestModules(t *testing.T) {
	t.Parallel()
	src, err := config.Parse("test.yaml", []byte("queue:\n  driver: memory\n  queues: [jobs]\n  shutdown_timeout: 2s\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	var enq queue.Enqueuer
	var admin *queue.Admin
	var driver queue.Driver
	var checks []health.Checker
	app := fxtest.New(t,
		fx.NopLogger,
		config.Module(src),
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), v),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		queue.Module, queue.WorkerModule, memory.Module,
		queue.AsHandler(func() queue.Handler {
			return queue.Handler{Queue: "jobs", Name: "ping", Handle: func(context.Context, *queue.Job) error {
				ran.Add(1)
				return nil
			}}
		}),
		fx.Populate(&enq, &admin, &driver),
		fx.Invoke(fx.Annotate(func(c []health.Checker) { checks = c }, fx.ParamTags(`group:"health.checkers"`))),
	)
	app.RequireStart()
	defer app.RequireStop()
	if _, err := enq.Enqueue(context.Background(), "jobs", "ping", nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 3*time.Second, func() bool { return ran.Load() == 1 }, "handler did not run")
	if err := queue.RequireShared(driver); err == nil {
		t.Fatal("memory driver claims to be shared")
	}
	if len(checks) != 1 || checks[0].Name != "queue" || checks[0].Critical || checks[0].Check(context.Background()) != nil {
		t.Fatalf("checkers %+v", checks)
	}
	testenv.Eventually(t, time.Second, func() bool {
		s, err := admin.QueueStats(context.Background(), "jobs")
		return err == nil && s.Completed == 1
	}, "stats")
}
