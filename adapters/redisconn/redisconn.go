// Package redisconn turns the `redis` config section into go-redis clients.
//
// It deliberately provides no shared client: the cache, the queue and the
// realtime fan-out each build their own with NewClient, because closing a
// client (as a queue transport does on shutdown) must never take another
// subsystem's connections with it.
package redisconn

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
)

// Config is the `redis` section. One of URL or Addrs is needed:
//   - URL (redis://[user:pass@]host:port/db, rediss:// for TLS): one server;
//   - Addrs with MasterName: a Sentinel-managed master;
//   - Addrs (one or more) without MasterName: a Redis Cluster.
type Config struct {
	URL          string        `yaml:"url"`
	Addrs        []string      `yaml:"addrs"`
	MasterName   string        `yaml:"master_name"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	DB           int           `yaml:"db"`
	PoolSize     int           `yaml:"pool_size"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// SetDefaults fills the timeouts. They are short on purpose: a cache that
// waits seconds for a dead server is worse than no cache.
func (c *Config) SetDefaults() {
	if c.URL == "" && len(c.Addrs) == 0 {
		c.URL = "redis://127.0.0.1:6379/0"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 3 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 3 * time.Second
	}
}

// Validate checks that the section describes exactly one topology.
func (c Config) Validate() error {
	if c.URL != "" && len(c.Addrs) > 0 {
		return errors.New("url: set either url or addrs, not both")
	}
	if c.URL != "" {
		if _, err := redis.ParseURL(c.URL); err != nil {
			return fmt.Errorf("url: %q is not a redis:// or rediss:// URL: %v", c.URL, err)
		}
	}
	if c.MasterName != "" && len(c.Addrs) == 0 {
		return errors.New("addrs: master_name needs the sentinel addresses in addrs")
	}
	if c.PoolSize < 0 {
		return fmt.Errorf("pool_size: %d must not be negative", c.PoolSize)
	}
	return nil
}

// Mode names the topology the config selects: "single", "sentinel" or "cluster".
func (c Config) Mode() string {
	switch {
	case c.URL != "":
		return "single"
	case c.MasterName != "":
		return "sentinel"
	default:
		return "cluster"
	}
}

// Option adjusts a client for its user.
type Option func(*options)

type options struct {
	dialRetries int
	maxRetries  int
	local       *redis.LocalCache
	sweep       time.Duration
}

// ClientSideCache makes a single-node client keep the replies of read
// commands (GET, …) in c, served with no round trip until Redis reports
// the key changed (RESP3 client tracking: an invalidation pushed on the
// connection that read it). A reply may be served stale until its
// invalidation arrives; the caller holds c to drop its own copies when it
// writes (LocalKey). go-redis reads the invalidations of idle connections
// every sweep (its default when 0). Sentinel and Cluster clients ignore it.
func ClientSideCache(c *redis.LocalCache, sweep time.Duration) Option {
	return func(o *options) { o.local, o.sweep = c, sweep }
}

// LocalKey is the name under which a client built with ClientSideCache for
// cfg files the Redis key key in its cache (go-redis namespaces it by
// database and ACL user), for LocalCache.DeleteByRedisKey.
func LocalKey(cfg Config, key string) string {
	db, user := Database(cfg)
	return strconv.Itoa(db) + "\x00" + strconv.Itoa(len(user)) + ":" + user + "\x00" + key
}

// Database is the database number and ACL user a client built for cfg
// uses: the db and username keys, else what redis.url names.
func Database(cfg Config) (db int, user string) {
	db, user = cfg.DB, cfg.Username
	if cfg.URL != "" {
		if opt, err := redis.ParseURL(cfg.URL); err == nil {
			if db == 0 {
				db = opt.DB
			}
			if user == "" {
				user = opt.Username
			}
		}
	}
	return db, user
}

// FailFast makes a client give up on a dead server at once: one dial
// attempt and no command retries. The cache uses it: with go-redis'
// defaults (5 dials 100 ms apart, 3 retries) every request that reaches a
// dead Redis before the cache's breaker opens would wait ~0.5 s, whereas
// the cache would rather answer from the database right away.
func FailFast() Option {
	return func(o *options) { o.dialRetries, o.maxRetries = 1, -1 }
}

// NewClient builds a new client for cfg. The caller owns it and closes it.
// It does not dial: go-redis connects lazily, so a Redis that is down at
// start degrades the subsystem instead of failing the program.
func NewClient(cfg Config, opts ...Option) (redis.UniversalClient, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redisconn: %w", err)
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	switch cfg.Mode() {
	case "single":
		opt, _ := redis.ParseURL(cfg.URL)
		if cfg.Username != "" {
			opt.Username = cfg.Username
		}
		if cfg.Password != "" {
			opt.Password = cfg.Password
		}
		if cfg.DB != 0 {
			opt.DB = cfg.DB
		}
		if cfg.PoolSize > 0 {
			opt.PoolSize = cfg.PoolSize
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
		opt.DialerRetries, opt.MaxRetries = o.dialRetries, o.maxRetries
		if o.local != nil {
			opt.Protocol = 3
			opt.ClientSideCache = o.local
			// Only the sweep is read from this config: the cache itself is
			// o.local, which takes precedence over it.
			opt.ClientSideCacheConfig = &redis.ClientSideCacheConfig{DrainInterval: o.sweep}
		}
		return redis.NewClient(opt), nil
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.MasterName, SentinelAddrs: cfg.Addrs,
			Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, PoolSize: cfg.PoolSize,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
			DialerRetries: o.dialRetries, MaxRetries: o.maxRetries,
		}), nil
	default:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Addrs, Username: cfg.Username, Password: cfg.Password, PoolSize: cfg.PoolSize,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
			DialerRetries: o.dialRetries, MaxRetries: o.maxRetries,
		}), nil
	}
}

// Module provides Config from the `redis` section and the process's
// *Pools (registered with the application's Prometheus registry when it
// has one), and routes go-redis' own log lines to the application's slog
// logger.
var Module = fx.Module("redisconn", config.Provide[Config]("redis"), logModule,
	fx.Provide(NewPools),
	fx.Invoke(func(p struct {
		fx.In
		Pools *Pools
		Reg   prometheus.Registerer `optional:"true"`
	}) error {
		if p.Reg == nil {
			return nil
		}
		return p.Reg.Register(p.Pools)
	}),
)
