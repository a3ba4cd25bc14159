package database

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

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
	for _, d := range drivers {
		if d.Name == cfg.Driver {
			db, err := d.Open(ctx, cfg, log)
			if err != nil {
				return nil, fmt.Errorf("database: open %s: %w", d.Name, err)
			}
			return db, nil
		}
	}
	names := make([]string, 0, len(drivers))
	for _, d := range drivers {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	registered := strings.Join(names, ", ")
	if registered == "" {
		registered = "none (no database adapter module is installed)"
	}
	return nil, fmt.Errorf("%w: database.driver: %q is not one of %s", ErrUnknownDriver, cfg.Driver, registered)
}
