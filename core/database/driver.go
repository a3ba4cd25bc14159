package database

import (
	"context"
	"fmt"
	"github.com/tipbox/tipbox/core/registry"
	"log/slog"

	"go.uber.org/fx"
)

// Driver is a named way to open a DB, contributed by an adapter.
type Driver struct {
	// Name is what database.driver selects, e.g. "sqlite".
	Name string
	// Open opens the pool and sets it up for cfg (pool limits, DSN
	// defaults). It need not connect; the Module pings on start.
	Open func(ctx context.Context, cfg Config, log *slog.Logger) (*DB, error)
}

// DriversGroup is the fx value group holding the registered drivers.
const DriversGroup = "database.drivers"

// AsDriver registers a driver with fx: constructor is any fx constructor
// returning a Driver (and optionally an error). A third party adds a database
// this way without editing core.
func AsDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"`+DriversGroup+`"`)))
}

// Open opens cfg.Driver from drivers. An unknown name gives ErrUnknownDriver
// with the registered names, under the config key database.driver.
func Open(ctx context.Context, cfg Config, drivers []Driver, log *slog.Logger) (*DB, error) {
	d, err := registry.Find(drivers, func(d Driver) string { return d.Name }, "database.driver", cfg.Driver, ErrUnknownDriver)
	if err != nil {
		return nil, err
	}
	db, err := d.Open(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", d.Name, err)
	}
	return db, nil
}
