// Package app assembles a Tipbox process: the kernel's fx modules (config,
// logging, metrics, health, auth) plus whatever adapters and modules the
// program passes in, with start and stop budgets from the root config.
//
// Shutdown order follows from start order: fx stops hooks in reverse, so
// the HTTP server (invoked last) stops first, then workers, queues, cache
// and the Redis clients each subsystem owns.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/logging"
	"github.com/tipbox/tipbox/core/metrics"
)

// LoadProfile reads the profile named by path. An empty path means the
// embedded default profile (defaultName in profiles). A path that does not
// exist on disk but names an embedded profile (e.g. "configs/redis.yaml"
// from another working directory) uses the embedded copy.
func LoadProfile(path string, profiles fs.FS, defaultName string, environ []string) (*config.Source, error) {
	if path == "" {
		data, err := fs.ReadFile(profiles, defaultName)
		if err != nil {
			return nil, fmt.Errorf("config: embedded profile %s: %w", defaultName, err)
		}
		return config.Parse("embedded "+defaultName, data, environ)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if emb, eerr := fs.ReadFile(profiles, filepath.Base(path)); eerr == nil {
			return config.Parse("embedded "+filepath.Base(path), emb, environ)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("config: read profile: %w", err)
	}
	return config.Parse(path, data, environ)
}

// Kernel is the set of core modules every Tipbox process runs.
func Kernel(src *config.Source) fx.Option {
	return fx.Options(
		config.Module(src),
		logging.Module,
		metrics.Module,
		health.Module,
		auth.Module,
	)
}

// New builds the fx application for src with the extra options (adapters,
// modules, and last the servers). The start and stop budgets come from the
// root section.
func New(src *config.Source, opts ...fx.Option) (*fx.App, error) {
	var root config.Root
	if err := src.Decode("", &root); err != nil {
		return nil, err
	}
	all := append([]fx.Option{
		fx.StartTimeout(root.StartTimeout),
		fx.StopTimeout(root.ShutdownTimeout),
		Kernel(src),
	}, opts...)
	a := fx.New(all...)
	if err := a.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// Run starts a, waits for SIGINT/SIGTERM (or a shutdown from inside), and
// stops it within the stop budget. It returns the first error.
//
// The signal handlers are installed before the start hooks run: a signal
// that arrives while they run (a deploy replacing a process still
// starting) is kept, and the application stops gracefully as soon as it
// has started, instead of dying by the signal's default action with
// listeners half open. Start hooks are not cancelled by it; the start
// budget bounds them.
func Run(a *fx.App) error {
	signals := a.Wait()
	startCtx, cancel := context.WithTimeout(context.Background(), a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		return err
	}
	sig := <-signals
	stopCtx, cancel2 := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancel2()
	if err := a.Stop(stopCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if sig.ExitCode != 0 {
		return fmt.Errorf("stopped with exit code %d", sig.ExitCode)
	}
	return nil
}
