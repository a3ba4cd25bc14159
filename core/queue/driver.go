package queue

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/registry"
)

// Driver is a named backend factory, contributed by an adapter module to
// the fx value group "queue.drivers" (see AsDriver).
type Driver struct {
	Name string
	// Shared says whether several processes may use the backend together
	// (redis: yes; memory: no). cmd/worker refuses a driver that is not.
	Shared bool
	// Open builds the backend for the queue config. The process calls it
	// once and closes the backend at stop. obs receives what the backend
	// drops (never nil).
	Open func(cfg Config, obs Observer) (Backend, error)
}

// Observer is told what a backend drops by retention, so every drop is
// counted (the backend logs it too). *Metrics implements it.
type Observer interface {
	// DeadDropped reports dead-lettered jobs deleted by retention.failed
	// (reason "count") or retention.failed_age (reason "age").
	DeadDropped(queue string, n int, reason string)
}

// AsDriver annotates a constructor returning a Driver into the group.
func AsDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"queue.drivers"`)))
}

// FindDriver returns the driver named name (ErrUnknownDriver otherwise,
// with the names that are registered).
func FindDriver(drivers []Driver, name string) (Driver, error) {
	return registry.Find(drivers, func(d Driver) string { return d.Name }, "queue.driver", name, ErrUnknownDriver)
}
