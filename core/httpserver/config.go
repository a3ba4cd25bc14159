package httpserver

import (
	"fmt"
	"net"
	"time"
)

// Config is the `http` section.
type Config struct {
	// Addr is host:port to listen on (":8080").
	Addr string `yaml:"addr"`
	// BodyLimit is the largest request body accepted, in bytes, both as
	// sent and after decompression; larger bodies get 413.
	BodyLimit    int           `yaml:"body_limit"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// TrustedProxies may set X-Forwarded-For (the client IP for logs and
	// anonymous rate limits); empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AdminAddr, when set, is a second listener with /healthz, /readyz,
	// /metrics and /debug/pprof/ (off by default; bind it to an internal
	// address).
	AdminAddr string `yaml:"admin_addr"`
	// RateLimit limits requests per caller.
	RateLimit RateLimitConfig `yaml:"rate_limit"`
}

// RateLimitConfig is the section http.rate_limit. The caller is the user
// of a valid bearer token, else the client IP.
type RateLimitConfig struct {
	// RPS is the sustained rate allowed per caller, in requests per second
	// (default 100; 0 turns rate limiting off). A pointer so that an
	// explicit 0 survives SetDefaults.
	RPS *int `yaml:"rps"`
	// Burst is how many requests a caller may make at once above the
	// rate (default 200; 0 turns rate limiting off).
	Burst *int `yaml:"burst"`
	// Store keeps the counters: "memory" (per process), "redis" (shared by
	// every API instance), or "auto" (default): redis when the profile or
	// the environment configures the redis section (and the redis store
	// is installed, as in cmd/api), memory otherwise.
	Store string `yaml:"store"`
	// Prefix starts every key in a shared store (default
	// "tipbox:ratelimit:"); deployments sharing one Redis set their own.
	Prefix string `yaml:"prefix"`
}

// SetDefaults applies the documented defaults.
func (c *RateLimitConfig) SetDefaults() {
	if c.RPS == nil {
		c.RPS = ptr(100)
	}
	if c.Burst == nil {
		c.Burst = ptr(200)
	}
	if c.Store == "" {
		c.Store = "auto"
	}
	if c.Prefix == "" {
		c.Prefix = "tipbox:ratelimit:"
	}
}

// Validate checks the numbers and the store name.
func (c RateLimitConfig) Validate() error {
	if c.RPS != nil && *c.RPS < 0 {
		return fmt.Errorf("rate_limit.rps: %d must not be negative", *c.RPS)
	}
	if c.Burst != nil && *c.Burst < 0 {
		return fmt.Errorf("rate_limit.burst: %d must not be negative", *c.Burst)
	}
	switch c.Store {
	case "", "auto", "memory", "redis":
	default:
		return fmt.Errorf("rate_limit.store: %q is not one of auto, memory, redis", c.Store)
	}
	return nil
}

// Enabled reports whether requests are limited (rps and burst both > 0).
func (c RateLimitConfig) Enabled() bool {
	return c.RPS != nil && *c.RPS > 0 && c.Burst != nil && *c.Burst > 0
}

func ptr[T any](v T) *T { return &v }

// SetDefaults applies the documented defaults.
func (c *Config) SetDefaults() {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = 1 << 20
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	c.RateLimit.SetDefaults()
}

// Validate checks the addresses and limits.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr: %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", c.Addr)
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			return fmt.Errorf("admin_addr: %q is not host:port (e.g. 127.0.0.1:9091)", c.AdminAddr)
		}
	}
	if c.BodyLimit < 1024 {
		return fmt.Errorf("body_limit: %d is below the minimum of 1024 bytes", c.BodyLimit)
	}
	return c.RateLimit.Validate()
}
