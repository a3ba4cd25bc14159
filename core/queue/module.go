package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"go.uber.org/fx"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
)

// ErrNotShared is returned by RequireShared for a driver that only works
// inside one process.
var ErrNotShared = errors.New("queue: driver cannot be shared between processes")

// Module is the producer side, for every process that enqueues: the config
// section `queue`, the selected driver's Backend (closed at stop), the
// Enqueuer, the Admin, the non-critical "queue" readiness checker and the
// admin routes. It needs a *slog.Logger, a prometheus.Registerer, an
// *auth.Verifier and at least one driver module (adapters/queue/...).
var Module = fx.Module("queue",
	config.Register[Config]("queue"),
	fx.Provide(
		provideConfig,
		NewMetrics,
		selectDriver,
		openBackend,
		fx.Annotate(newEnqueuer, fx.As(new(Enqueuer)), fx.As(new(TxEnqueuer))),
		newAdmin,
		newEventHub,
	),
	health.AsChecker(newChecker),
	httpserver.AsRoutes(newAdminRoutes),
	fx.Invoke(registerDepth, runScheduler),
)

// AsQueues declares queues a module owns: every process that runs the
// queue knows them, before the ones the profile's queue.queues adds.
func AsQueues(names ...string) fx.Option {
	return fx.Supply(fx.Annotated{Group: "queue.names", Target: names})
}

type configIn struct {
	fx.In
	Source   *config.Source
	Declared [][]string `group:"queue.names"`
}

// provideConfig decodes the queue section and adds the declared queues.
func provideConfig(in configIn) (Config, error) {
	var cfg Config
	if err := in.Source.Decode("queue", &cfg); err != nil {
		return cfg, err
	}
	var declared []string
	for _, names := range in.Declared {
		declared = append(declared, names...)
	}
	return cfg.WithQueues(declared)
}

type schedulerIn struct {
	fx.In
	LC        fx.Lifecycle
	Cfg       Config
	Backend   Backend
	Admin     *Admin
	Schedules []Schedule `group:"queue.schedules"`
	Logger    *slog.Logger
}

// runScheduler runs the Scheduler in every process that has the producer
// side, when the backend stores schedules.
func runScheduler(in schedulerIn) error {
	store, ok := in.Backend.(Scheduling)
	if !ok {
		if len(in.Schedules) > 0 {
			return fmt.Errorf("%w: %d schedules are declared", ErrSchedulesUnsupported, len(in.Schedules))
		}
		return nil
	}
	s := NewScheduler(in.Cfg, store, in.Schedules, in.Logger)
	in.Admin.OnScheduleChange = s.Changed
	in.LC.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return nil
}

// WorkerModule runs the consumers: the Worker over the handlers of the
// group "queue.handlers", started and stopped with the app. Include it
// with Module (cmd/api when worker.embedded, cmd/worker always). Its stop
// takes up to queue.shutdown_timeout (+1 s), inside fx's stop budget when
// that stays under ~14 s.
var WorkerModule = fx.Module("queue.worker",
	fx.Provide(newWorker),
	fx.Invoke(func(lc fx.Lifecycle, w *Worker) {
		lc.Append(fx.Hook{OnStart: w.Start, OnStop: w.Stop})
	}),
)

type driversIn struct {
	fx.In
	Drivers []Driver `group:"queue.drivers"`
}

func selectDriver(cfg Config, in driversIn) (Driver, error) {
	return FindDriver(in.Drivers, cfg.Driver)
}

// RequireShared fails unless the driver can be shared between processes.
// cmd/worker invokes it: a worker on the memory driver would consume a
// queue nobody else can fill.
func RequireShared(d Driver) error {
	if d.Shared {
		return nil
	}
	return fmt.Errorf("%w: queue.driver is %q, which keeps jobs inside one process; "+
		"cmd/worker needs a shared driver (set queue.driver: redis or postgres, or TIPBOX_QUEUE_DRIVER=redis)", ErrNotShared, d.Name)
}

func openBackend(lc fx.Lifecycle, cfg Config, d Driver, logger *slog.Logger, m *Metrics) (Backend, error) {
	b, err := d.Open(cfg, m)
	if err != nil {
		return nil, fmt.Errorf("queue: open driver %s: %w", d.Name, err)
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			logger.Info("queue backend open", "driver", d.Name, "queues", cfg.Queues)
			return nil
		},
		OnStop: func(context.Context) error {
			if c, ok := b.(io.Closer); ok {
				return c.Close()
			}
			return nil
		},
	})
	return b, nil
}

type producerIn struct {
	fx.In
	Cfg     Config
	Backend Backend
	Logger  *slog.Logger
	Metrics *Metrics
}

func newEnqueuer(in producerIn) (*Client, error) {
	return NewClient(in.Cfg, in.Backend, in.Logger, in.Metrics)
}

func newAdmin(cfg Config, b Backend) *Admin { return NewAdmin(cfg, b) }

func newEventHub(lc fx.Lifecycle, b Backend, logger *slog.Logger) *EventHub {
	h := NewEventHub(b, logger, 0)
	lc.Append(fx.StopHook(h.Close))
	return h
}

func newAdminRoutes(a *Admin, b Backend, h *EventHub, v *auth.Verifier, logger *slog.Logger) *AdminRoutes {
	return NewAdminRoutes(a, b, h, v, logger)
}

// closeStreamsBeforeServer ends the open event streams before the HTTP
// server's shutdown, which would otherwise wait for them until its
// deadline: taking the *Server makes this hook run before the server's.
func closeStreamsBeforeServer(lc fx.Lifecycle, h *EventHub, _ *httpserver.Server) {
	lc.Append(fx.StopHook(h.Close))
}

// StreamsModule ends event streams before the API server stops; programs
// that serve HTTP include it.
var StreamsModule = fx.Invoke(closeStreamsBeforeServer)

func registerDepth(cfg Config, m *Metrics, b Backend, reg prometheus.Registerer) error {
	return m.registerDepth(reg, cfg.Queues, b)
}

func newChecker(b Backend) health.Checker {
	check := func(context.Context) error { return nil } // nothing to check
	if p, ok := b.(Pinger); ok {
		check = p.Ping
	}
	return health.Checker{Name: "queue", Critical: false, Check: check}
}

type workerIn struct {
	fx.In
	Cfg      Config
	Backend  Backend
	Handlers []Handler `group:"queue.handlers"`
	Logger   *slog.Logger
	Metrics  *Metrics
}

func newWorker(in workerIn) (*Worker, error) {
	return NewWorker(in.Cfg, in.Backend, in.Handlers, in.Logger, in.Metrics)
}
