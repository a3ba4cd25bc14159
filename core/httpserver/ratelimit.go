package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"golang.org/x/time/rate"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/registry"
)

// RateLimiter decides whether the caller named key may make one more
// request now. Implementations must be safe for concurrent use.
type RateLimiter interface {
	Allow(ctx context.Context, key string) (RateResult, error)
}

// RateResult is one decision of a RateLimiter.
type RateResult struct {
	Allowed bool
	// RetryAfter is how long until the next request would be allowed
	// (when not Allowed).
	RetryAfter time.Duration
}

// RateLimitDriver opens a RateLimiter that keeps its counters somewhere
// shared (adapters contribute "redis"). A limiter that is an io.Closer is
// closed when the server stops.
type RateLimitDriver struct {
	Name string
	Open func(cfg RateLimitConfig) (RateLimiter, error)
}

// AsRateLimitDriver provides the result of a constructor returning a RateLimitDriver so
// its result joins the "http.ratelimit.drivers" value group.
func AsRateLimitDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"http.ratelimit.drivers"`)))
}

// ErrUnknownRateLimitStore is wrapped when http.rate_limit.store names a
// store no adapter registered.
var ErrUnknownRateLimitStore = errors.New("httpserver: unknown rate limit store")

// OpenRateLimiter returns the limiter cfg selects: nil when limits are
// off, the in-process one for "memory" (or "auto" without redisConfigured
// or without a registered "redis" driver),
// else the driver registered under the store's name.
func OpenRateLimiter(cfg RateLimitConfig, redisConfigured bool, drivers []RateLimitDriver) (RateLimiter, string, error) {
	cfg.SetDefaults()
	if !cfg.Enabled() {
		return nil, "off", nil
	}
	store := cfg.Store
	if store == "auto" {
		store = "memory"
		if redisConfigured && slices.ContainsFunc(drivers, func(d RateLimitDriver) bool { return d.Name == "redis" }) {
			store = "redis"
		}
	}
	if store == "memory" {
		return NewMemoryRateLimiter(*cfg.RPS, *cfg.Burst), store, nil
	}
	d, err := registry.Find(drivers, func(d RateLimitDriver) string { return d.Name }, "http.rate_limit.store", store, ErrUnknownRateLimitStore)
	if err != nil {
		return nil, store, err
	}
	l, err := d.Open(cfg)
	if err != nil {
		return nil, store, fmt.Errorf("http.rate_limit.store %s: %w", store, err)
	}
	return l, store, nil
}

// MemoryRateLimiter is a token bucket per caller in this process (rps
// tokens a second, burst at most). Callers not seen for the time a bucket
// takes to fill are forgotten, and at most 100 000 are remembered: a
// forgotten caller starts again with a full bucket, as it would have.
type MemoryRateLimiter struct {
	rps   rate.Limit
	burst int
	keys  *otter.Cache[string, *rate.Limiter]
}

// NewMemoryRateLimiter returns an in-process limiter.
func NewMemoryRateLimiter(rps, burst int) *MemoryRateLimiter {
	fill := time.Duration(float64(burst)/float64(rps)*float64(time.Second)) + time.Second
	return &MemoryRateLimiter{
		rps:   rate.Limit(rps),
		burst: burst,
		keys: otter.Must(&otter.Options[string, *rate.Limiter]{
			MaximumSize:      100_000,
			ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](fill),
		}),
	}
}

// Allow implements RateLimiter.
func (m *MemoryRateLimiter) Allow(ctx context.Context, key string) (RateResult, error) {
	l, err := m.keys.Get(ctx, key, otter.LoaderFunc[string, *rate.Limiter](func(context.Context, string) (*rate.Limiter, error) {
		return rate.NewLimiter(m.rps, m.burst), nil
	}))
	if err != nil {
		return RateResult{}, err
	}
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return RateResult{RetryAfter: d}, nil
	}
	return RateResult{Allowed: true}, nil
}

// rateLimiter is the server's middleware over a RateLimiter. When a
// shared store fails it falls back to a per-process limiter (logged once
// per outage, counted), so a Redis outage neither opens the gates nor
// fails requests.
type rateLimiter struct {
	shared   RateLimiter
	local    *MemoryRateLimiter
	log      *slog.Logger
	errors   prometheus.Counter
	degraded atomic.Bool
}

func newRateLimiter(l RateLimiter, cfg RateLimitConfig, log *slog.Logger, reg prometheus.Registerer, server string) (*rateLimiter, error) {
	rl := &rateLimiter{shared: l, log: log}
	if _, isLocal := l.(*MemoryRateLimiter); !isLocal {
		rl.local = NewMemoryRateLimiter(*cfg.RPS, *cfg.Burst)
	}
	rl.errors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipbox_http_rate_limit_store_errors_total", Help: "Rate limit decisions the shared store failed to make (the process decided alone).",
		ConstLabels: prometheus.Labels{"server": server},
	})
	if err := reg.Register(rl.errors); err != nil {
		return nil, fmt.Errorf("httpserver: register metrics: %w", err)
	}
	return rl, nil
}

const rateCheckedLocal = "tipbox.ratelimit.checked"

// rateKey is the caller: the user of a valid bearer token, else the user
// a raw route's own credential names (who), else the client IP.
func rateKey(c *fiber.Ctx, who Caller) string {
	if p, ok := auth.PrincipalFrom(c); ok {
		return "user:" + strconv.FormatInt(p.UserID, 10)
	}
	if who.UserID > 0 {
		return "user:" + strconv.FormatInt(who.UserID, 10)
	}
	return "ip:" + c.IP()
}

// handler is the limit as middleware; caller, when not nil, is a raw
// route's CallerRoutes.RateCaller.
func (rl *rateLimiter) handler(caller func(*fiber.Ctx) Caller) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// Once per request: the /api guard and the route both run it (so
		// do the middleware and the route of a raw Routes).
		if done, _ := c.Locals(rateCheckedLocal).(bool); done {
			return c.Next()
		}
		c.Locals(rateCheckedLocal, true)
		var who Caller
		if caller != nil {
			who = caller(c)
		}
		if who.Paced {
			return c.Next()
		}
		key := rateKey(c, who)
		res, err := rl.shared.Allow(c.UserContext(), key)
		if err != nil {
			rl.errors.Inc()
			if rl.degraded.CompareAndSwap(false, true) {
				rl.log.Warn("rate limit store failed; limiting per process until it answers", "err", err)
			}
			res, _ = rl.local.Allow(c.UserContext(), key)
		} else if rl.degraded.CompareAndSwap(true, false) {
			rl.log.Info("rate limit store answers again")
		}
		if !res.Allowed {
			secs := int(math.Ceil(res.RetryAfter.Seconds()))
			if secs < 1 {
				secs = 1
			}
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
			return Error(http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("too many requests; retry after %d s", secs))
		}
		return c.Next()
	}
}
