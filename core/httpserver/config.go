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
	// BodyLimit is the largest request body accepted, in bytes; larger
	// bodies get 413.
	BodyLimit    int           `yaml:"body_limit"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// TrustedProxies may set X-Forwarded-For; empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

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
}

// Validate checks the address and limits.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr: %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", c.Addr)
	}
	if c.BodyLimit < 1024 {
		return fmt.Errorf("body_limit: %d is below the minimum of 1024 bytes", c.BodyLimit)
	}
	return nil
}
