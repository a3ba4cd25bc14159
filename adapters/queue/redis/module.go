package redis

import (
	"fmt"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/queue"
)

// Open creates its own Redis client from rc (never shared with the cache)
// and a backend that closes that client on Close.
func Open(cfg Config, qcfg queue.Config, rc redisconn.Config, logger *slog.Logger, obs queue.Observer) (*Backend, error) {
	client, err := redisconn.NewClient(rc)
	if err != nil {
		return nil, fmt.Errorf("queue.redis: %w", err)
	}
	b, err := New(cfg, qcfg, client, logger, obs)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	b.closeFn = client.Close
	return b, nil
}

// NewDriver returns the "redis" driver, shareable between processes. Its
// client's pool is exported through pools as client "queue" (nil: not
// exported).
func NewDriver(cfg Config, rc redisconn.Config, logger *slog.Logger, pools *redisconn.Pools) queue.Driver {
	return queue.Driver{Name: "redis", Shared: true, Open: func(qcfg queue.Config, obs queue.Observer) (queue.Backend, error) {
		b, err := Open(cfg, qcfg, rc, logger, obs)
		if err != nil {
			return nil, err
		}
		pools.Add("queue", b.client)
		return b, nil
	}}
}

// Module registers the driver in "queue.drivers" and decodes `queue.redis`.
// It needs redisconn.Config (redisconn.Module) and a *slog.Logger.
var Module = fx.Module("queue.redis",
	config.Provide[Config]("queue.redis"),
	queue.AsDriver(NewDriver),
)
