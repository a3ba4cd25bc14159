// Package logging builds the process's slog.Logger from the root config:
// text for people in development, JSON for machines in production. fx's own
// events go through the same logger, at debug.
package logging

import (
	"io"
	"log/slog"
	"os"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/tipbox/tipbox/core/config"
)

// New returns a logger writing to w in the configured format and level.
func New(root config.Root, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(root.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if root.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("service", "tipbox")
}

// FxLogger adapts fx's event log to slog, all of it at debug, failures
// included: fx returns every failure it logs (from fx.New, Start or
// Stop), and the program prints its innermost cause as one line
// (tipbox.Program.Fail). At error level the same failure would also be
// logged with fx's whole chain of constructors.
func FxLogger(l *slog.Logger) fxevent.Logger {
	fl := &fxevent.SlogLogger{Logger: l.With("component", "fx")}
	fl.UseLogLevel(slog.LevelDebug)
	fl.UseErrorLevel(slog.LevelDebug)
	return fl
}

// Module provides the *slog.Logger (to stderr) and routes fx's events to
// it. fx.WithLogger only takes effect at the top level of an application,
// so this is a plain option set, not an fx.Module.
var Module = fx.Options(
	fx.Provide(func(root config.Root) *slog.Logger { return New(root, os.Stderr) }),
	fx.WithLogger(FxLogger),
)
