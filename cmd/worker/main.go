// Command worker runs Tipbox's queue consumers, and nothing else, so that
// any number of them can share the queues of one Redis. It serves
// /healthz, /readyz and /metrics on worker.admin_addr.
//
//	worker [--config FILE]
package main

import (
	"flag"
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/internal/cli"
)

const prog = "tipbox-worker"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	cfgPath := cli.ConfigFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q\n", prog, fs.Arg(0))
		return 2
	}
	src, err := cli.Load(*cfgPath)
	if err != nil {
		return cli.Fail(os.Stderr, prog, err)
	}
	return cli.Serve(prog, src, Worker()...)
}

// Worker is the option set of the worker program, the admin server last.
func Worker() []fx.Option {
	return []fx.Option{
		app.WorkerModule,
		adapters.All,
		fx.Invoke(func(w app.WorkerConfig, p httpserver.AdminParams) error {
			_, err := httpserver.RunAdmin(w.AdminAddr, p)
			return err
		}),
	}
}
