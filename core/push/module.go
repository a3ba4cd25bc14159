package push

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/registry"
)

// Driver is a named way to open a Sender, contributed by an adapter module
// to the "push.drivers" value group.
type Driver struct {
	Name string
	Open func(cfg Config) (Sender, error)
}

// AsDriver provides the result of a constructor returning a Driver so its result joins
// the "push.drivers" value group.
func AsDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"push.drivers"`)))
}

// Module provides the push Config (section "push") and the Sender of the
// driver push.driver names.
var Module = fx.Module("push",
	config.Provide[Config]("push"),
	fx.Provide(fx.Annotate(open, fx.ParamTags(``, ``, `group:"push.drivers"`))),
)

func open(cfg Config, log *slog.Logger, drivers []Driver) (Sender, error) {
	d, err := registry.Find(drivers, func(d Driver) string { return d.Name }, "push.driver", cfg.Driver, ErrUnknownDriver)
	if err != nil {
		return nil, err
	}
	s, err := d.Open(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("web push sender ready", "driver", cfg.Driver, "vapid", cfg.HasKeys())
	return s, nil
}
