package cache

import (
	"context"
	"fmt"
	"github.com/tipbox/tipbox/core/registry"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
)

// Driver is a named way to open a Store, contributed by an adapter module
// to the "cache.drivers" value group. Only the driver chosen by cache.driver
// is opened, so an unused Redis adapter never dials.
type Driver struct {
	Name string
	// Open creates the store. It should not fail because a server is
	// unreachable (the cache only degrades); it fails on bad configuration.
	Open func(ctx context.Context) (Store, error)
}

// AsDriver provides the result of a constructor returning a Driver so its result joins
// the "cache.drivers" value group.
//
//	var Module = fx.Module("cache.memory",
//		config.Provide[Config]("cache.memory"),
//		cache.AsDriver(NewDriver))
func AsDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"cache.drivers"`)))
}

// Module provides the cache Config (section "cache"), *Metrics and the Store
// chosen by cache.driver among the registered drivers, closes the store on
// stop, and contributes the non-critical "cache" readiness checker. It needs
// a prometheus.Registerer (core/metrics) and adapter modules providing
// Drivers.
var Module = fx.Module("cache",
	config.Provide[Config]("cache"),
	fx.Provide(
		NewMetrics,
		fx.Annotate(openStore, fx.ParamTags(``, ``, ``, `group:"cache.drivers"`)),
	),
	health.AsChecker(newChecker),
)

// OpenDriver opens the store of the driver called name. An unknown name is
// an error wrapping ErrUnknownDriver that names cache.driver and the
// registered drivers.
func OpenDriver(ctx context.Context, name string, drivers []Driver) (Store, error) {
	found, err := registry.Find(drivers, func(d Driver) string { return d.Name }, "cache.driver", name, ErrUnknownDriver)
	if err != nil {
		return nil, err
	}
	s, err := found.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("cache: open driver %q: %w", name, err)
	}
	return s, nil
}

func openStore(lc fx.Lifecycle, cfg Config, log *slog.Logger, drivers []Driver) (Store, error) {
	s, err := OpenDriver(context.Background(), cfg.Driver, drivers)
	if err != nil {
		return nil, err
	}
	log.Info("cache store opened", "driver", cfg.Driver)
	lc.Append(fx.StopHook(func() error {
		log.Info("cache store closing", "driver", cfg.Driver)
		return s.Close()
	}))
	return s, nil
}

func newChecker(s Store) health.Checker {
	return health.Checker{Name: "cache", Critical: false, Check: s.Ping}
}
