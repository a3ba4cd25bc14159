package email

import (
	"context"
	"io"
	"log/slog"

	"go.uber.org/fx"
	"golang.org/x/time/rate"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/registry"
)

// Driver is a named way to open a Sender, contributed by an adapter module
// to the "email.drivers" value group. Only the driver email.driver names is
// opened.
type Driver struct {
	Name string
	Open func() (Sender, error)
}

// AsDriver provides the result of a constructor returning a Driver so its result joins
// the "email.drivers" value group.
func AsDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"email.drivers"`)))
}

// Module provides the email Config (section "email") and the Sender of the
// driver it names, with email.from filled in and email.rate_limit applied.
// A Sender that is an io.Closer is closed on stop.
var Module = fx.Module("email",
	config.Provide[Config]("email"),
	fx.Provide(fx.Annotate(open, fx.ParamTags(``, ``, ``, `group:"email.drivers"`))),
)

func open(lc fx.Lifecycle, cfg Config, log *slog.Logger, drivers []Driver) (Sender, error) {
	d, err := registry.Find(drivers, func(d Driver) string { return d.Name }, "email.driver", cfg.Driver, ErrUnknownDriver)
	if err != nil {
		return nil, err
	}
	s, err := d.Open()
	if err != nil {
		return nil, err
	}
	if c, ok := s.(io.Closer); ok {
		lc.Append(fx.StopHook(c.Close))
	}
	log.Info("email sender ready", "driver", cfg.Driver, "rate_limit", cfg.RateLimit)
	return New(cfg, s), nil
}

// New wraps s: messages without From get cfg.From, and at most
// cfg.RateLimit messages a second pass (none when it is 0).
func New(cfg Config, s Sender) Sender {
	w := &defaults{from: cfg.From, next: s}
	if cfg.RateLimit > 0 {
		w.limit = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.Burst)
	}
	return w
}

type defaults struct {
	from  string
	limit *rate.Limiter
	next  Sender
}

func (d *defaults) Send(ctx context.Context, m Message) error {
	if m.From == "" {
		m.From = d.from
	}
	if err := m.Validate(); err != nil {
		return err
	}
	if d.limit != nil {
		if err := d.limit.Wait(ctx); err != nil {
			return err
		}
	}
	return d.next.Send(ctx, m)
}
