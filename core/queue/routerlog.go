package queue

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// routerLogger is the Router's logger: Watermill's slog adapter (Info
// mapped to Debug), except that Trace returns at once unless the slog
// logger takes watermill.LevelTrace. The Router logs two Trace lines per
// message, and the adapter turns their fields into attributes before slog
// checks the level: ~3 % of a drain's CPU, for lines nobody reads.
type routerLogger struct {
	watermill.LoggerAdapter
	slog *slog.Logger
}

func newRouterLogger(l *slog.Logger) routerLogger {
	return routerLogger{
		LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(l, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}),
		slog:          l,
	}
}

func (l routerLogger) Trace(msg string, fields watermill.LogFields) {
	if l.slog.Enabled(context.Background(), watermill.LevelTrace) {
		l.LoggerAdapter.Trace(msg, fields)
	}
}

func (l routerLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return routerLogger{LoggerAdapter: l.LoggerAdapter.With(fields), slog: l.slog} // attributes do not change Enabled
}
