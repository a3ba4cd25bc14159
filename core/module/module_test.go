package module_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/core/queue"
)

type kudosConfig struct {
	Max int `yaml:"max"`
}

func (c *kudosConfig) SetDefaults() {
	if c.Max == 0 {
		c.Max = 7
	}
}

type contributions struct {
	fx.In
	Endpoints  []httpserver.Endpoints `group:"http.endpoints"`
	Handlers   []queue.Handler        `group:"queue.handlers"`
	Schedules  []queue.Schedule       `group:"queue.schedules"`
	Migrations []database.Migrations  `group:"database.migrations"`
	Queues     [][]string             `group:"queue.names"`
}

func newApp(t *testing.T, profile string, opts ...fx.Option) *fx.App {
	t.Helper()
	src, err := config.Parse("test", []byte(profile), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := []fx.Option{
		fx.NopLogger,
		fx.Supply(src, slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	return fx.New(append(base, opts...)...)
}

func spec() module.Spec {
	return module.Spec{
		Name:       "kudos",
		Config:     module.Config[kudosConfig](),
		Migrations: fstest.MapFS{"sqlite/1_init.sql": {Data: []byte("SELECT 1;")}},
		Queues:     []string{"kudos"},
		Routes: []any{func(c kudosConfig) httpserver.Endpoints {
			return httpserver.EndpointsFunc(func() []httpserver.Route { return nil })
		}},
		Jobs: []any{func() queue.Handler {
			return queue.Handler{Queue: "kudos", Handle: func(context.Context, *queue.Job) error { return nil }}
		}},
		Schedules: []queue.Schedule{{ID: "kudos-daily", Queue: "kudos", Name: "roll", Cron: "@daily"}},
	}
}

// Each program gets the parts of a module its role runs: the API its
// routes, a worker process its jobs, both its config, migrations, queues
// and schedules.
func TestRolesGetTheirParts(t *testing.T) {
	for _, tc := range []struct {
		role         module.Role
		routes, jobs int
		name         string
	}{
		{module.Role{API: true}, 1, 0, "api"},
		{module.Role{Workers: true}, 0, 1, "worker"},
		{module.Role{API: true, Workers: true}, 1, 1, "embedded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := module.Options(tc.role, spec())
			if err != nil {
				t.Fatal(err)
			}
			var got contributions
			var cfg kudosConfig
			app := newApp(t, "kudos: {max: 3}\n", opt, fx.Populate(&got, &cfg))
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			if len(got.Endpoints) != tc.routes || len(got.Handlers) != tc.jobs {
				t.Errorf("routes %d jobs %d, want %d %d", len(got.Endpoints), len(got.Handlers), tc.routes, tc.jobs)
			}
			if len(got.Schedules) != 1 || len(got.Migrations) != 1 || got.Migrations[0].Module != "kudos" ||
				len(got.Queues) != 1 || got.Queues[0][0] != "kudos" {
				t.Errorf("schedules %v migrations %v queues %v", got.Schedules, got.Migrations, got.Queues)
			}
			if cfg.Max != 3 {
				t.Errorf("config max = %d, want 3 from the profile", cfg.Max)
			}
		})
	}
}

func TestSpecErrors(t *testing.T) {
	for name, specs := range map[string][]module.Spec{
		"no name":     {{}},
		"upper case":  {{Name: "Kudos"}},
		"twice":       {{Name: "a"}, {Name: "a"}},
		"task no run": {{Name: "a", Tasks: []module.Task{{Name: "t"}}}},
	} {
		if _, err := module.Options(module.Role{API: true}, specs...); !errors.Is(err, module.ErrSpec) {
			t.Errorf("%s: err = %v, want ErrSpec", name, err)
		}
	}
}

// A task runs between start and stop, in its place only, and the stop
// waits for it.
func TestTaskLifecycleAndPlace(t *testing.T) {
	var running, stopped atomic.Int32
	work := func() func(context.Context) error {
		return func(ctx context.Context) error {
			running.Add(1)
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // a task that takes a moment to wind down
			stopped.Add(1)
			return ctx.Err()
		}
	}
	s := module.Spec{Name: "m", Tasks: []module.Task{
		{Name: "api_only", In: module.API, Run: work},
		{Name: "workers_only", In: module.Workers, Run: work},
		{Name: "everywhere", Run: work},
	}}
	opt, err := module.Options(module.Role{API: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(t, "", opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if running.Load() != 2 || stopped.Load() != 2 {
		t.Errorf("running %d stopped %d, want 2 and 2 (api_only and everywhere)", running.Load(), stopped.Load())
	}
}

// A task that fails shuts the application down with exit code 1.
func TestTaskFailureShutsDown(t *testing.T) {
	s := module.Spec{Name: "m", Tasks: []module.Task{{Name: "dies", Run: func() func(context.Context) error {
		return func(context.Context) error { return errors.New("lost its connection for good") }
	}}}}
	opt, err := module.Options(module.Role{Workers: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(t, "", opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case sig := <-app.Wait():
		if sig.ExitCode != 1 {
			t.Errorf("exit code %d, want 1", sig.ExitCode)
		}
	case <-ctx.Done():
		t.Fatal("the application did not shut down")
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
