package redisconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"
)

// slogLogger routes go-redis' own log lines ("connection failed", "pool
// retry", ...) to slog at warn level. go-redis otherwise prints them with
// the standard library logger to stderr, outside the structured log, once
// per failed dial: a Redis outage would flood stderr in text while the
// breaker and the workers already report it properly.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// UseSlog sends go-redis' log lines to log. go-redis has one logger per
// process (redis.SetLogger), so this is process-wide by go-redis' design;
// the module calls it once at start.
func UseSlog(log *slog.Logger) {
	redis.SetLogger(slogLogger{log: log.With("component", "go-redis")})
}

var logModule = fx.Invoke(UseSlog)
