// Package cli holds what cmd/api and cmd/worker share: profile selection
// and turning a failed start into one line on stderr and a non-zero exit.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/config"
)

// ConfigFlag registers --config on fs; its default is $TIPBOX_CONFIG.
func ConfigFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("TIPBOX_CONFIG"),
		"config profile `file` (default: the embedded configs/default.yaml; env TIPBOX_CONFIG)")
}

// Load reads the profile at path (embedded default when empty).
// extraEnv entries are appended to the process environment (they win).
func Load(path string, extraEnv ...string) (*config.Source, error) {
	return app.LoadProfile(path, configs.FS, configs.Default, append(os.Environ(), extraEnv...))
}

// Fail prints err as one line prefixed by the program name and returns
// exit code 1. fx wraps start errors in hook descriptions; the innermost
// reason is what an operator needs, so long chains are cut to it.
func Fail(w io.Writer, prog string, err error) int {
	msg := err.Error()
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.Contains(msg, "OnStart hook") {
		if i := strings.LastIndex(msg, "): "); i >= 0 {
			msg = msg[i+3:]
		}
	}
	if errors.Is(err, config.ErrInvalid) {
		fmt.Fprintf(w, "%s: %s\n", prog, msg)
		return 2
	}
	fmt.Fprintf(w, "%s: %s\n", prog, strings.ReplaceAll(msg, "\n", "; "))
	return 1
}

// Serve builds and runs an app until a signal, returning the exit code.
func Serve(prog string, src *config.Source, opts ...fx.Option) int {
	a, err := app.New(src, opts...)
	if err != nil {
		return Fail(os.Stderr, prog, err)
	}
	if err := app.Run(a); err != nil {
		return Fail(os.Stderr, prog, err)
	}
	return 0
}
