// Package redis is the Redis cache adapter (driver "redis"): a cache.Store
// over a go-redis UniversalClient, so one server, a Sentinel-managed master
// or a Redis Cluster, as the top-level redis section says.
//
// The store owns its client (built from the redis section with
// redisconn.NewClient): the queue transport closing its own client cannot
// take the cache's connections with it. Values are stored as they are
// (JSON by default), readable with redis-cli, under prefix+key.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
)

// Config is the section cache.redis.
type Config struct {
	// Prefix is put before every key (default none: the profile of user 7
	// is at user:7:profile, as the Node service had it).
	Prefix string `yaml:"prefix"`
	// Timeout bounds each cache command (default 500ms), in place of the
	// redis section's read/write timeouts, which the queue shares: a cache
	// slower than this is a failed cache (bypassed, then cut off by the
	// breaker), not a slow request.
	Timeout time.Duration `yaml:"timeout"`
	// ClientCacheEntries > 0 keeps up to that many entries in process,
	// kept fresh by Redis (client-side caching with RESP3 tracking): a hit
	// on one costs no round trip; a write through this store drops its own
	// copy before it returns, and a write from any other client (another
	// instance, redis-cli, an expiry) once Redis' invalidation reaches this
	// one. 0 (the default) turns it off. Single-node Redis, database 0, only.
	ClientCacheEntries int `yaml:"client_cache_entries"`
	// ClientCacheTTL is the longest an entry is served in process after it
	// was read from Redis (default 10s). Invalidations keep entries fresh;
	// this bounds what a connection that has stopped carrying them (Redis
	// frozen, a partition that drops nothing) can leave served.
	ClientCacheTTL time.Duration `yaml:"client_cache_ttl"`
	// ClientCacheSweep is how often go-redis reads Redis' invalidations
	// off the connections no command is using (default 20ms, at least
	// 1ms): on a busy connection they are read with the next reply, on an
	// idle one they wait for the sweep. So it bounds how long another
	// writer's change can go unseen, and costs CPU while the process is
	// idle (each sweep wakes a goroutine and polls every idle connection;
	// docs/decisions/0028).
	ClientCacheSweep time.Duration `yaml:"client_cache_sweep"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 500 * time.Millisecond
	}
	if c.ClientCacheTTL == 0 {
		c.ClientCacheTTL = 10 * time.Second
	}
	if c.ClientCacheSweep == 0 {
		c.ClientCacheSweep = 20 * time.Millisecond
	}
}

// Validate reports invalid values.
func (c Config) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: %s must be > 0", c.Timeout)
	}
	if c.ClientCacheEntries < 0 {
		return fmt.Errorf("client_cache_entries: %d must not be negative", c.ClientCacheEntries)
	}
	if c.ClientCacheTTL < 0 {
		return fmt.Errorf("client_cache_ttl: %s must be > 0", c.ClientCacheTTL)
	}
	if c.ClientCacheSweep < time.Millisecond {
		return fmt.Errorf("client_cache_sweep: %s must be at least 1ms", c.ClientCacheSweep)
	}
	return nil
}

// Store is the Redis cache.Store. Safe for concurrent use.
type Store struct {
	client  goredis.UniversalClient
	prefix  string
	cluster bool
	closed  atomic.Bool
	// local is the client-side cache (nil when off), and conn what names
	// its keys (redisconn.LocalKey).
	local *goredis.LocalCache
	conn  redisconn.Config
}

// New builds a Store with its own client for conn. It does not dial: a
// Redis that is down makes the store fail per call (and the cache-aside
// breaker bypass it), not the program fail to start.
func New(cfg Config, conn redisconn.Config) (*Store, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cache.redis: %w", err)
	}
	// FailFast: one dial attempt, so the calls that reach a dead Redis
	// before the breaker opens fail in one dial timeout, not ~0.5 s of
	// go-redis' dial retries.
	opts := []redisconn.Option{redisconn.FailFast()}
	var local *goredis.LocalCache
	// go-redis keeps a client-side cache for a single node's database 0
	// only; elsewhere every read is a round trip, and the store keeps no
	// cache to forget its writes from.
	if db, _ := redisconn.Database(conn); cfg.ClientCacheEntries > 0 && conn.Mode() == "single" && db == 0 {
		local = goredis.NewLocalCache(goredis.CacheConfig{
			MaxEntries:   cfg.ClientCacheEntries,
			MaxStaleness: cfg.ClientCacheTTL,
		})
		opts = append(opts, redisconn.ClientSideCache(local, cfg.ClientCacheSweep))
	}
	client, err := redisconn.NewClient(conn, opts...)
	if err != nil {
		return nil, err
	}
	s := NewWithClient(client, cfg)
	s.local, s.conn = local, conn
	return s, nil
}

// forget drops this process's copies of the keys from the client-side
// cache, once a write of them has reached Redis: the invalidation Redis
// sends for it is applied only when go-redis next reads the connection
// that read the key, and until then this store would answer the old value.
// A read of the key in flight is dropped too (go-redis removes its
// placeholder), so it cannot put the old value back.
func (s *Store) forget(keys ...string) {
	if s.local == nil {
		return
	}
	for _, k := range keys {
		s.local.DeleteByRedisKey(redisconn.LocalKey(s.conn, s.prefix+k))
	}
}

// NewWithClient builds a Store over client, which it takes over (Close
// closes it) and which must not have been used yet: its options are
// adjusted for a cache. Commands time out after cfg.Timeout (when > 0).
// For a single-node or Sentinel client, go-redis's own retries (3, with
// backoff) are turned off: a cache read that fails is answered from the
// database at once, and the breaker, not a retry loop, decides when to try
// Redis again. A Cluster client keeps its redirects (MOVED/ASK are part of
// normal operation); its node clients never retry.
func NewWithClient(client goredis.UniversalClient, cfg Config) *Store {
	cluster := false
	switch c := client.(type) {
	case *goredis.Client:
		c.Options().MaxRetries = 0 // normalised value: no retry
		if cfg.Timeout > 0 {
			client = c.WithTimeout(cfg.Timeout) // shares c's pool; closing it closes c
		}
	case *goredis.ClusterClient:
		cluster = true
		if cfg.Timeout > 0 {
			// Node clients are built lazily from these options.
			o := c.Options()
			o.ReadTimeout, o.WriteTimeout = cfg.Timeout, cfg.Timeout
		}
	}
	return &Store{client: client, prefix: cfg.Prefix, cluster: cluster}
}

// Client returns the store's client (for the tiered adapter's pub/sub).
func (s *Store) Client() goredis.UniversalClient { return s.client }

// Key returns the Redis key for a cache key.
func (s *Store) Key(key string) string { return s.prefix + key }

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, cache.ErrClosed
	}
	v, err := s.client.Get(ctx, s.prefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, cache.ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("cache redis: get: %w", err)
	}
	return v, nil
}

// GetWithTTL returns the value and its remaining TTL (0: no expiry), in one
// round trip. A key that expires between the GET and the PTTL is a miss.
func (s *Store) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if s.closed.Load() {
		return nil, 0, cache.ErrClosed
	}
	k := s.prefix + key
	var get *goredis.StringCmd
	var pttl *goredis.DurationCmd
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, k)
		pttl = p.PTTL(ctx, k)
		return nil
	})
	if errors.Is(err, goredis.Nil) || errors.Is(get.Err(), goredis.Nil) {
		return nil, 0, cache.ErrMiss
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cache redis: get: %w", err)
	}
	v, _ := get.Bytes()
	ttl := pttl.Val()
	switch {
	case ttl == -2 || (ttl >= 0 && ttl < time.Millisecond):
		// Expired between the two commands: as good as a miss (a caller
		// keeping the value for "no expiry" would keep it for ever).
		return nil, 0, cache.ErrMiss
	case ttl < 0: // -1: no expiry
		ttl = 0
	}
	return v, ttl, nil
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	if ttl < 0 {
		ttl = 0
	}
	err := s.client.Set(ctx, s.prefix+key, value, ttl).Err()
	s.forget(key) // even on an error: the write may have been applied
	if err != nil {
		return fmt.Errorf("cache redis: set: %w", err)
	}
	return nil
}

// Delete implements cache.Store. On a Cluster, keys in different slots
// cannot share one DEL, so each key gets its own DEL in one pipeline (which
// go-redis splits per node).
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	var err error
	switch {
	case len(keys) == 0:
		return nil
	case len(keys) == 1 || !s.cluster:
		full := make([]string, len(keys))
		for i, k := range keys {
			full[i] = s.prefix + k
		}
		err = s.client.Del(ctx, full...).Err()
	default:
		_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, s.prefix+k)
			}
			return nil
		})
	}
	s.forget(keys...)
	if err != nil {
		return fmt.Errorf("cache redis: delete: %w", err)
	}
	return nil
}

// Ping implements cache.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cache redis: ping: %w", err)
	}
	return nil
}

// Close closes the store's client.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return cache.ErrClosed
	}
	return s.client.Close()
}

var _ cache.Store = (*Store)(nil)

// Module registers the "redis" driver and the section cache.redis. It needs
// redisconn.Config (redisconn.Module).
var Module = fx.Module("cache.redis",
	config.Provide[Config]("cache.redis"),
	cache.AsDriver(NewDriver),
)

// NewDriver returns the "redis" driver. Its client's pool is exported
// through pools as client "cache" (nil: not exported).
func NewDriver(cfg Config, conn redisconn.Config, log *slog.Logger, pools *redisconn.Pools) cache.Driver {
	return cache.Driver{Name: "redis", Open: func(context.Context) (cache.Store, error) {
		s, err := New(cfg, conn)
		if err == nil {
			pools.Add("cache", s.client)
			log.Info("redis cache ready", "mode", conn.Mode(), "prefix", cfg.Prefix,
				"client_cache", s.local != nil)
		}
		return s, err
	}}
}
