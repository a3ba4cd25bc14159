// Package redis keeps HTTP rate limit counters in Redis (store "redis"),
// so every API instance draws from one bucket per caller. It uses
// github.com/go-redis/redis_rate (GCRA in one Lua script per request, one
// key per caller: "rate:" + http.rate_limit.prefix + caller, expiring once
// the bucket is full again).
//
// The limiter owns its client (built from the top-level redis section,
// failing fast): the cache or the queue closing theirs cannot take it
// down, and a dead Redis costs a request one failed dial, after which the
// server limits per process until Redis answers.
package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Timeout bounds one decision: a slower Redis is a failed one.
const Timeout = 250 * time.Millisecond

// Limiter is the Redis httpserver.RateLimiter. Safe for concurrent use.
type Limiter struct {
	client goredis.UniversalClient
	lim    *redis_rate.Limiter
	limit  redis_rate.Limit
	prefix string
}

// New returns a limiter for cfg (rps and burst must be > 0) over a new
// client for conn.
func New(cfg httpserver.RateLimitConfig, conn redisconn.Config) (*Limiter, error) {
	cfg.SetDefaults()
	if !cfg.Enabled() {
		return nil, fmt.Errorf("ratelimit redis: rps and burst must be > 0")
	}
	client, err := redisconn.NewClient(conn, redisconn.FailFast())
	if err != nil {
		return nil, err
	}
	return &Limiter{
		client: client,
		lim:    redis_rate.NewLimiter(client),
		limit:  redis_rate.Limit{Rate: *cfg.RPS, Burst: *cfg.Burst, Period: time.Second},
		prefix: cfg.Prefix,
	}, nil
}

// Allow implements httpserver.RateLimiter.
func (l *Limiter) Allow(ctx context.Context, key string) (httpserver.RateResult, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	res, err := l.lim.Allow(ctx, l.prefix+key, l.limit)
	if err != nil {
		return httpserver.RateResult{}, err
	}
	return httpserver.RateResult{Allowed: res.Allowed > 0, RetryAfter: res.RetryAfter}, nil
}

// Close closes the client.
func (l *Limiter) Close() error { return l.client.Close() }

// Module registers the "redis" rate limit store. It needs redisconn.Config
// (redisconn.Module).
var Module = fx.Module("ratelimit.redis",
	httpserver.AsRateLimitDriver(NewDriver),
)

// NewDriver returns the "redis" store. Its client's pool is exported
// through pools as client "ratelimit" (nil: not exported).
func NewDriver(conn redisconn.Config, pools *redisconn.Pools) httpserver.RateLimitDriver {
	return httpserver.RateLimitDriver{Name: "redis", Open: func(cfg httpserver.RateLimitConfig) (httpserver.RateLimiter, error) {
		l, err := New(cfg, conn)
		if err != nil {
			return nil, err
		}
		pools.Add("ratelimit", l.client)
		return l, nil
	}}
}
