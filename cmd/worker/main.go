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

	"github.com/tipbox/tipbox/internal/cli"
	"github.com/tipbox/tipbox/internal/programs"
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
	return cli.Serve(prog, src, programs.Worker()...)
}
