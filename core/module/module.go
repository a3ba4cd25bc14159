// Package module turns a module's description, one Spec value, into the
// fx options each program runs: its config section is known to every
// program (so profiles shared by the API and the workers pass the strict
// check), its migrations and queues are declared wherever it runs, its
// routes are mounted by the API, its job handlers are added to whichever
// process runs the queue workers, and its background tasks are started and
// stopped with the process.
package module

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
)

// Spec describes a module. Every field but Name is optional.
//
// Constructors (Provide, Routes, Jobs, Checks, Task.Run) are ordinary fx
// constructors: their parameters are resolved from the application, and
// fx only calls one whose result something needs, so Provide may hold
// constructors that only one program uses.
type Spec struct {
	// Name identifies the module: its config section's key, its
	// migrations' set and its fx module's name. Lower case letters,
	// digits and underscores.
	Name string
	// Config is the module's section, e.g. module.Config[Config]().
	Config Section
	// Migrations holds the module's SQL, one directory per dialect
	// (sqlite/, postgres/) at its root.
	Migrations fs.FS
	// Queues are the queues the module owns (enqueues to or handles).
	Queues []string
	// Provide are the module's constructors (stores, services), in every
	// process that runs the module.
	Provide []any
	// Routes are constructors of httpserver.Endpoints, mounted by the API.
	Routes []any
	// Jobs are constructors of queue.Handler, run wherever the queue
	// workers run (cmd/worker, or cmd/api with worker.embedded).
	Jobs []any
	// Schedules are job schedulers, stored by whichever process starts
	// first (see queue.Scheduler).
	Schedules []queue.Schedule
	// Checks are constructors of health.Checker.
	Checks []any
	// Tasks are the module's background work.
	Tasks []Task
	// Options are extra fx options, in every process that runs the
	// module (decorators, invokes that need no placement).
	Options []fx.Option
}

// Section is a module's config section; Config makes one.
type Section struct {
	provide func(key string) fx.Option
}

// Config is the section of type T (a struct, with optional SetDefaults and
// Validate methods) under the module's name.
func Config[T any]() Section {
	return Section{provide: config.Provide[T]}
}

// Place says which programs run a Task.
type Place int

// The places.
const (
	// Everywhere: every program that runs the module.
	Everywhere Place = iota
	// API: only the API program.
	API
	// Workers: only where the queue workers run (cmd/worker, or the API
	// with embedded workers).
	Workers
)

// Task is a module's background work. Run is a constructor returning the
// work, a func(ctx) error: it starts when the application has started,
// its ctx ends when the application stops, and the stop waits for it to
// return (within the stop budget). A task may end early with nil (its
// work is done); one that returns an error before its ctx ends shuts the
// application down with exit code 1: background work that dies must not
// leave a process that looks healthy.
type Task struct {
	Name string
	In   Place
	Run  any
}

// Role is what a program runs.
type Role struct {
	// API: the program serves HTTP (routes, API tasks).
	API bool
	// Workers: the program runs the queue workers (jobs, worker tasks).
	Workers bool
}

// ErrSpec is wrapped by every error about a Spec itself.
var ErrSpec = errors.New("module: bad spec")

var moduleName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Options expands the specs for a program of the given role. Names must
// be unique.
func Options(role Role, specs ...Spec) (fx.Option, error) {
	seen := map[string]bool{}
	opts := make([]fx.Option, 0, len(specs))
	for _, s := range specs {
		if !moduleName.MatchString(s.Name) {
			return nil, fmt.Errorf("%w: name %q is not 1-64 of a-z, 0-9, _ starting with a letter", ErrSpec, s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%w: two modules are named %q", ErrSpec, s.Name)
		}
		seen[s.Name] = true
		o, err := s.options(role)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	return fx.Options(opts...), nil
}

func (s Spec) options(role Role) (fx.Option, error) {
	var opts []fx.Option
	if s.Config.provide != nil {
		opts = append(opts, s.Config.provide(s.Name))
	}
	if s.Migrations != nil {
		opts = append(opts, database.AsMigrations(s.Name, s.Migrations))
	}
	if len(s.Queues) > 0 {
		opts = append(opts, queue.AsQueues(s.Queues...))
	}
	if len(s.Provide) > 0 {
		opts = append(opts, fx.Provide(s.Provide...))
	}
	for _, c := range s.Checks {
		opts = append(opts, health.AsChecker(c))
	}
	for _, sc := range s.Schedules {
		opts = append(opts, queue.AsSchedule(sc))
	}
	if role.API {
		for _, r := range s.Routes {
			opts = append(opts, httpserver.AsEndpoints(r))
		}
	}
	if role.Workers {
		for _, j := range s.Jobs {
			opts = append(opts, queue.AsHandler(j))
		}
	}
	for _, t := range s.Tasks {
		if t.Name == "" || t.Run == nil {
			return nil, fmt.Errorf("%w: module %s: a task needs a Name and a Run", ErrSpec, s.Name)
		}
		if t.In == Everywhere || (t.In == API && role.API) || (t.In == Workers && role.Workers) {
			opts = append(opts, runTask(s.Name, t))
		}
	}
	opts = append(opts, s.Options...)
	return fx.Module(s.Name, opts...), nil
}

// runTask builds the task's work through fx and runs it between start and
// stop.
func runTask(module string, t Task) fx.Option {
	return fx.Module(t.Name,
		fx.Provide(fx.Private, fx.Annotate(t.Run, fx.ResultTags(`name:"task"`))),
		fx.Invoke(fx.Annotate(func(lc fx.Lifecycle, sd fx.Shutdowner, log *slog.Logger, work func(context.Context) error) {
			r := &runner{name: module + "." + t.Name, work: work, sd: sd, log: log}
			lc.Append(fx.Hook{OnStart: r.start, OnStop: r.stop})
		}, fx.ParamTags(``, ``, ``, `name:"task"`))),
	)
}

// runner runs one task: start launches it, stop cancels it and waits.
type runner struct {
	name string
	work func(context.Context) error
	sd   fx.Shutdowner
	log  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
}

func (r *runner) start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		err := r.work(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		r.log.Error("module task failed; shutting down", "task", r.name, "err", err)
		_ = r.sd.Shutdown(fx.ExitCode(1))
	}()
	return nil
}

func (r *runner) stop(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("module task %s: did not stop: %w", r.name, ctx.Err())
	}
}
