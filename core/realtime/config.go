package realtime

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is the `realtime` section. The Redis bus has its own section
// below it (realtime.redis).
type Config struct {
	// Driver names the registered bus driver: memory (in process, the
	// default) or redis (across processes), or one a third party registers
	// with AsDriver.
	Driver string `yaml:"driver"`
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// may open /ws; "*" allows any. Empty means the default for env: any
	// origin in development, same origin only (Origin's host equals Host)
	// in production. A request without Origin (not a browser) is always
	// allowed: origin checks only stop cross-site pages.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// PingInterval is how often the server pings each socket (default 25s).
	PingInterval time.Duration `yaml:"ping_interval"`
	// PongTimeout is how long past a ping interval the server waits for
	// any sign of life (pong or message) before dropping the socket as
	// dead (default 10s).
	PongTimeout time.Duration `yaml:"pong_timeout"`
	// WriteTimeout bounds one frame write (default 10s); a socket that
	// cannot take a frame in that time is dropped.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// SendBuffer is how many frames may wait for one socket (default 64).
	// When it is full the socket is dropped as a slow consumer: it never
	// holds up delivery to others.
	SendBuffer int `yaml:"send_buffer"`
}

// SetDefaults applies the documented defaults.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "memory"
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout == 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 64
	}
}

// Validate checks durations, the buffer and the origins.
func (c Config) Validate() error {
	switch {
	case c.Driver == "":
		return errors.New("driver: must be set")
	case c.PingInterval <= 0:
		return fmt.Errorf("ping_interval: %s must be positive", c.PingInterval)
	case c.PongTimeout <= 0:
		return fmt.Errorf("pong_timeout: %s must be positive", c.PongTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("write_timeout: %s must be positive", c.WriteTimeout)
	case c.SendBuffer < 1:
		return fmt.Errorf("send_buffer: %d must be at least 1", c.SendBuffer)
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("allowed_origins: %q is not an origin like https://app.example.com or *", o)
		}
	}
	return nil
}

// originPolicy decides which Origin headers may open a socket.
type originPolicy struct {
	any     bool
	allowed map[string]bool // normalised scheme://host[:port]
}

// newOriginPolicy resolves AllowedOrigins against the environment: empty
// is "any" in development and "same origin" in production.
func newOriginPolicy(origins []string, production bool) originPolicy {
	p := originPolicy{allowed: map[string]bool{}}
	if len(origins) == 0 {
		p.any = !production
		return p
	}
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		p.allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return p
}

// allows reports whether a request with this Origin (maybe empty) to this
// Host may upgrade. Listed origins and same-origin requests pass.
func (p originPolicy) allows(origin, host string) bool {
	if origin == "" || p.any {
		return true
	}
	if p.allowed[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
