// Package tipbox composes Tipbox programs: the API (cmd/api) and the queue
// worker (cmd/worker) are each one Program, and a third party's main is
// the same one line with its own modules and adapters added:
//
//	func main() {
//		tipbox.API(tipbox.WithModules(follows.Module), tipbox.WithAdapters(mycache.Module)).Main()
//	}
//
// A Program reads a profile (--config FILE, $TIPBOX_CONFIG, or the
// embedded default), builds the fx application from the kernel, the
// adapters and the modules, and runs it until SIGINT or SIGTERM.
package tipbox

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters"
	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/dashboard"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/modules"
)

// Command is a subcommand of a Program: it gets the arguments after its
// name and returns the exit code.
type Command func(p *Program, args []string) int

// Program is a Tipbox executable: its role, modules, adapters and
// commands. Build one with API or Worker and options; it is not changed
// after that, and may be used for any number of runs.
type Program struct {
	name           string
	api            bool
	modules        []module.Spec
	adapters       []fx.Option
	extra          []fx.Option
	profiles       fs.FS
	defaultProfile string
	commands       map[string]Command
	stderr         io.Writer
	stdout         io.Writer
}

// Option configures a Program.
type Option func(*Program)

// WithModules adds modules to the application's (modules.All).
func WithModules(specs ...module.Spec) Option {
	return func(p *Program) { p.modules = append(p.modules, specs...) }
}

// WithOnlyModules replaces the application's modules with specs: a program
// built on the framework without Tipbox's own modules.
func WithOnlyModules(specs ...module.Spec) Option {
	return func(p *Program) { p.modules = append([]module.Spec(nil), specs...) }
}

// WithAdapters adds adapter modules (a driver registered in a port's
// value group, e.g. a cache.AsDriver module) beside the built-in ones.
func WithAdapters(opts ...fx.Option) Option {
	return func(p *Program) { p.adapters = append(p.adapters, opts...) }
}

// WithFxOptions adds raw fx options to the application (decorators,
// replacements), after the modules and before the servers.
func WithFxOptions(opts ...fx.Option) Option {
	return func(p *Program) { p.extra = append(p.extra, opts...) }
}

// WithProfiles sets where --config names are looked up when no file by
// that name exists, and the profile used without --config (by default
// Tipbox's embedded configs/, default.yaml).
func WithProfiles(fsys fs.FS, defaultName string) Option {
	return func(p *Program) { p.profiles, p.defaultProfile = fsys, defaultName }
}

// WithName sets the program's name, which prefixes its error lines.
func WithName(name string) Option { return func(p *Program) { p.name = name } }

// WithCommand adds (or replaces) a subcommand.
func WithCommand(name string, c Command) Option {
	return func(p *Program) { p.commands[name] = c }
}

// WithOutput sets where a program's commands write (os.Stdout and
// os.Stderr by default).
func WithOutput(stdout, stderr io.Writer) Option {
	return func(p *Program) { p.stdout, p.stderr = stdout, stderr }
}

func newProgram(name string, api bool, opts []Option) *Program {
	p := &Program{
		name:           name,
		api:            api,
		modules:        append([]module.Spec(nil), modules.All...),
		profiles:       configs.FS,
		defaultProfile: configs.Default,
		commands:       map[string]Command{},
		stdout:         os.Stdout,
		stderr:         os.Stderr,
	}
	if api {
		p.commands["token"] = tokenCommand
		p.commands["migrate"] = migrateCommand
		p.commands["vapid"] = vapidCommand
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// API is the HTTP API program: every module's routes, and with
// worker.embedded (the embedded profile) the queue workers too. Its
// commands: serve (the default), token, migrate, vapid.
func API(opts ...Option) *Program { return newProgram("tipbox-api", true, opts) }

// Worker is the queue worker program: every module's job handlers and an
// admin server (health, metrics) on worker.admin_addr. It refuses a queue
// driver that cannot be shared between processes.
func Worker(opts ...Option) *Program { return newProgram("tipbox-worker", false, opts) }

// Name is the program's name.
func (p *Program) Name() string { return p.name }

// Load reads the profile at path (the default profile when empty). extra
// entries are appended to the process environment and win over it.
func (p *Program) Load(path string, extra ...string) (*config.Source, error) {
	return app.LoadProfile(path, p.profiles, p.defaultProfile, append(os.Environ(), extra...))
}

// Options returns the fx options of the program for the profile src,
// without the kernel (app.New adds it): what New builds, for tests and
// tools that assemble the same application.
func (p *Program) Options(src *config.Source) ([]fx.Option, error) {
	var w app.WorkerConfig
	if err := src.Decode("worker", &w); err != nil {
		return nil, err
	}
	role := module.Role{API: p.api, Workers: !p.api || w.RunsEmbedded()}
	mods, err := module.Options(role, p.modules...)
	if err != nil {
		return nil, err
	}
	opts := []fx.Option{app.WorkerSection, adapters.All, fx.Options(p.adapters...), mods}
	if role.Workers {
		opts = append(opts, queue.WorkerModule)
	}
	opts = append(opts, p.extra...)
	if p.api {
		// The HTTP server comes last so it starts last and stops first.
		return append(opts, realtime.HubModule, queue.StreamsModule, dashboard.Module, httpserver.Module), nil
	}
	return append(opts,
		fx.Invoke(queue.RequireShared),
		// The worker verifies no token, but signs with auth.jwt_secret (the
		// key of email unsubscribe links is derived from it): building the
		// verifier applies the secret policy here too — the development
		// secret only in development, real entropy in production.
		fx.Invoke(func(*auth.Verifier) {}),
		// The worker serves no API but shares profiles with the one that
		// does: the http section must pass the strict check.
		config.Register[httpserver.Config]("http"),
		fx.Invoke(func(w app.WorkerConfig, ap httpserver.AdminParams) error {
			_, err := httpserver.NewAdminServer(w.AdminAddr, ap)
			return err
		}),
	), nil
}

// New builds the program's application for the profile src.
func (p *Program) New(src *config.Source) (*fx.App, error) {
	opts, err := p.Options(src)
	if err != nil {
		return nil, err
	}
	return app.New(src, opts...)
}

// Main runs the program with the process's arguments and exits with its
// exit code.
func (p *Program) Main() { os.Exit(p.Run(os.Args[1:])) }

// Run runs the command args name (serve when args is empty or starts with
// a flag) and returns the exit code: 0, 1 for a failure while running, 2
// for a usage or configuration error.
func (p *Program) Run(args []string) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if c, ok := p.commands[args[0]]; ok {
			return c(p, args[1:])
		}
		if args[0] != "serve" {
			fmt.Fprintf(p.stderr, "%s: unknown command %q (want %s)\n", p.name, args[0], strings.Join(p.commandNames(), ", "))
			return 2
		}
		args = args[1:]
	}
	fs := p.flags("serve")
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(p.stderr, "%s: unexpected argument %q\n", p.name, fs.Arg(0))
		return 2
	}
	src, err := p.Load(*cfgPath)
	if err != nil {
		return p.Fail(err)
	}
	a, err := p.New(src)
	if err != nil {
		return p.Fail(err)
	}
	if err := app.Run(a); err != nil {
		return p.Fail(err)
	}
	return 0
}

func (p *Program) commandNames() []string {
	names := []string{"serve"}
	for n := range p.commands {
		names = append(names, n)
	}
	slices.Sort(names[1:])
	return names
}

func (p *Program) flags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(p.name+" "+cmd, flag.ContinueOnError)
	fs.SetOutput(p.stderr)
	return fs
}

// configFlag registers --config on fs; its default is $TIPBOX_CONFIG.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("TIPBOX_CONFIG"),
		"config profile `file` (default: the embedded default profile; env TIPBOX_CONFIG)")
}

// Fail prints err as one line prefixed by the program's name and returns
// the exit code: 2 for a configuration error, 1 otherwise. fx wraps a
// failed constructor or start hook in the chain of what needed it; an
// operator needs the innermost reason, so the line carries only that.
func (p *Program) Fail(err error) int {
	msg := dig.RootCause(err).Error()
	if strings.Contains(msg, "OnStart hook") {
		if i := strings.LastIndex(msg, "): "); i >= 0 {
			msg = msg[i+3:]
		}
	}
	fmt.Fprintf(p.stderr, "%s: %s\n", p.name, oneLine(msg))
	if errors.Is(err, config.ErrInvalid) {
		return 2
	}
	return 1
}

// oneLine joins the lines of a message (a configuration error lists its
// problems one per indented line, after a line ending in ':') with "; ".
func oneLine(msg string) string {
	lines := strings.Split(msg, "\n")
	var b strings.Builder
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(strings.TrimSpace(lines[i-1]), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// migrate applies pending migrations and exits: the application is built
// with auto-migration on and no connections warmed, and only the database
// (which migrates in its start hook) is invoked.
func migrateCommand(p *Program, args []string) int {
	fs := p.flags("migrate")
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	src, err := p.Load(*cfgPath, "TIPBOX_DATABASE_AUTO_MIGRATE=true", "TIPBOX_DATABASE_WARM_CONNS=0")
	if err != nil {
		return p.Fail(err)
	}
	mods, err := module.Options(module.Role{API: true}, p.modules...)
	if err != nil {
		return p.Fail(err)
	}
	a, err := app.New(src, app.WorkerSection, adapters.All, fx.Options(p.adapters...), mods,
		config.Register[httpserver.Config]("http"), fx.Invoke(func(*database.DB) {}))
	if err != nil {
		return p.Fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		return p.Fail(err)
	}
	if err := a.Stop(ctx); err != nil {
		return p.Fail(err)
	}
	fmt.Fprintln(p.stderr, p.name+": migrations applied")
	return 0
}
