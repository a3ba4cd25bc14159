// Command api runs the Tipbox HTTP API (and, in the embedded profile, the
// queue workers in the same process).
//
//	api [--config FILE]                      serve
//	api token --user ID [--role admin] [--ttl 1h] [--config FILE]
//	api migrate [--config FILE]              apply pending migrations and exit
//	api vapid                                print a new VAPID key pair (Web Push)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters"
	"github.com/tipbox/tipbox/adapters/push/webpush"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/internal/cli"
	"github.com/tipbox/tipbox/internal/programs"
	"github.com/tipbox/tipbox/modules"
)

const prog = "tipbox-api"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return token(args[1:])
		case "migrate":
			return migrate(args[1:])
		case "vapid":
			return vapid(args[1:])
		case "serve":
			args = args[1:]
		}
	}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	cfgPath := cli.ConfigFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unknown command %q (want serve, token, migrate or vapid)\n", prog, fs.Arg(0))
		return 2
	}
	src, err := cli.Load(*cfgPath)
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	opts, err := programs.API(src)
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	return cli.Serve(prog, src, opts...)
}

func token(args []string) int {
	fs := flag.NewFlagSet(prog+" token", flag.ContinueOnError)
	cfgPath := cli.ConfigFlag(fs)
	user := fs.Int64("user", 0, "user `id` (the token's sub claim)")
	role := fs.String("role", auth.RoleUser, "role: user or admin")
	ttl := fs.Duration("ttl", 0, "lifetime (default auth.token_ttl, 1h)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user <= 0 {
		fmt.Fprintf(os.Stderr, "%s token: --user must be a positive user id\n", prog)
		return 2
	}
	src, err := cli.Load(*cfgPath)
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	var root config.Root
	var cfg auth.Config
	if err := src.Decode("", &root); err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	if err := src.Decode("auth", &cfg); err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	v, err := auth.New(cfg, root.Env, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	tok, err := v.Issue(*user, *role, *ttl)
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	fmt.Println(tok)
	return 0
}

func migrate(args []string) int {
	fs := flag.NewFlagSet(prog+" migrate", flag.ContinueOnError)
	cfgPath := cli.ConfigFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Migrate even where the profile turns start-up migration off.
	src, err := cli.Load(*cfgPath, "TIPBOX_DATABASE_AUTO_MIGRATE=true")
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	// The full app graph with auto-migration on, started and stopped at
	// once: the database module migrates in its start hook. Only the
	// database (and what migrations need) is started: nothing is invoked
	// but the *DB.
	opts := []fx.Option{app.WorkerModule, adapters.All, modules.API,
		config.Register[httpserver.Config]("http"), fx.Invoke(func(*database.DB) {})}
	a, err := app.New(src, opts...)
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	if err := a.Stop(ctx); err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	fmt.Fprintln(os.Stderr, prog+": migrations applied")
	return 0
}

// vapid prints a new VAPID key pair as the two environment variables that
// configure it.
func vapid(args []string) int {
	fs := flag.NewFlagSet(prog+" vapid", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	private, public, err := webpush.GenerateKeys()
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	fmt.Printf("TIPBOX_PUSH_VAPID_PUBLIC_KEY=%s\nTIPBOX_PUSH_VAPID_PRIVATE_KEY=%s\n", public, private)
	return 0
}
