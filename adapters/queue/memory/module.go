// Package memory is the in-process queue driver ("memory") of the embedded
// profile: a Watermill Publisher/Subscriber over an in-memory Broker, and a
// queue.Backend with delayed jobs, counters, retention and dead letters
// kept in memory. It cannot be shared between processes.
package memory

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/queue"
)

// NewDriver returns the "memory" driver.
func NewDriver() queue.Driver {
	return queue.Driver{Name: "memory", Shared: false,
		Open: func(cfg queue.Config) (queue.Backend, error) { return New(cfg) }}
}

// Module registers the driver in the group "queue.drivers".
var Module = fx.Module("queue.memory", queue.AsDriver(NewDriver))
