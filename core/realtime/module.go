package realtime

import (
	"context"
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Module provides the realtime Config (section "realtime"), the Bus chosen
// by realtime.driver among the registered drivers (closed on stop) and the
// Publisher over it. Both programs run it: cmd/worker publishes, cmd/api
// publishes (embedded workers) and, with HubModule, delivers.
var Module = fx.Module("realtime",
	config.Provide[Config]("realtime"),
	fx.Provide(
		fx.Annotate(openBus, fx.ParamTags(``, ``, ``, `group:"realtime.drivers"`)),
		fx.Annotate(NewPublisher, fx.As(new(Publisher))),
	),
)

// HubModule adds, in cmd/api, the Hub (subscribed to the bus while the
// app runs), its metrics and the GET /ws route. It needs Module, an
// *auth.Verifier and the API *httpserver.Server (httpserver.Module): it
// registers a stop hook after the server's, so that, fx stopping hooks in
// reverse, every socket is closed with 1001 before the server shuts down.
//
// It also serves /socket.io/ (unless realtime.socketio.disabled) and the
// presence route, replays from a History when one is provided (the
// notification module provides its inbox), and shares presence through
// the driver's presence store when it has one.
var HubModule = fx.Module("realtime.hub",
	fx.Provide(
		NewMetrics,
		newHub,
	),
	httpserver.AsRoutes(func(h *Hub, v *auth.Verifier, root config.Root) *Handler {
		return NewHandler(h, v, root.Production())
	}),
	httpserver.AsRoutes(NewPresenceHandler),
	httpserver.AsRoutes(func(h *Hub, v *auth.Verifier, root config.Root) httpserver.Routes {
		if h.cfg.SocketIO.Disabled {
			return httpserver.RoutesFunc(func(fiber.Router) {})
		}
		return NewSocketIOHandler(h, v, root.Production())
	}),
	fx.Invoke(closeSocketsBeforeServer),
)

// hubParams are newHub's dependencies; the history is optional.
type hubParams struct {
	fx.In
	LC      fx.Lifecycle
	Cfg     Config
	Log     *slog.Logger
	M       *Metrics
	Bus     Bus
	Drivers []Driver `group:"realtime.drivers"`
	History History  `optional:"true"`
}

func openBus(lc fx.Lifecycle, cfg Config, log *slog.Logger, drivers []Driver) (Bus, error) {
	b, err := OpenDriver(context.Background(), cfg.Driver, drivers)
	if err != nil {
		return nil, err
	}
	log.Info("realtime bus opened", "driver", cfg.Driver)
	lc.Append(fx.StopHook(b.Close))
	return b, nil
}

func newHub(p hubParams) (*Hub, error) {
	h, err := NewHub(p.Cfg, p.Log, p.M)
	if err != nil {
		return nil, err
	}
	h.SetHistory(p.History)
	pres, err := OpenPresence(context.Background(), p.Cfg.Driver, p.Drivers)
	if err != nil {
		return nil, err
	}
	h.SetPresence(pres)
	p.LC.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return h.Subscribe(ctx, p.Bus) },
		OnStop: func(ctx context.Context) error {
			err := h.Shutdown(ctx) // already done by closeSocketsBeforeServer; idempotent
			h.Unsubscribe()
			if pres != nil {
				if cerr := pres.Close(); err == nil {
					err = cerr
				}
			}
			return err
		},
	})
	return h, nil
}

// closeSocketsBeforeServer appends its hook after the server's (taking the
// *Server forces it to be built first), so it runs before the server's
// stop: fasthttp's shutdown does not close upgraded connections.
func closeSocketsBeforeServer(lc fx.Lifecycle, h *Hub, _ *httpserver.Server) {
	lc.Append(fx.StopHook(h.Shutdown))
}
