// Package memory is the in-process queue driver ("memory") of the embedded
// profile: job records, their states and the event history kept in
// memory. It cannot be shared between processes.
package memory

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/queue"
)

// NewDriver returns the "memory" driver.
func NewDriver(logger *slog.Logger) queue.Driver {
	return queue.Driver{Name: "memory", Shared: false,
		Open: func(cfg queue.Config, obs queue.Observer) (queue.Backend, error) { return New(cfg, obs, logger) }}
}

// Module registers the driver in the group "queue.drivers". It needs a
// *slog.Logger.
var Module = fx.Module("queue.memory", queue.AsDriver(NewDriver))
