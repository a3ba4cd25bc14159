package smtp

import (
	"fmt"
	"time"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS      = "starttls"      // STARTTLS required (default)
	TLSOpportunistic = "opportunistic" // STARTTLS when offered, else plain
	TLSImplicit      = "implicit"      // TLS from the first byte (SMTPS, port 465)
	TLSNone          = "none"          // plain text: only for a relay on localhost
)

// Config is the section email.smtp.
type Config struct {
	// Host and Port of the submission server.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// Username and Password turn on SMTP AUTH (the strongest mechanism the
	// server offers); empty Username: no AUTH.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS is starttls, opportunistic, implicit or none.
	TLS string `yaml:"tls"`
	// Helo is the name given in EHLO (default: this host's name).
	Helo string `yaml:"helo"`
	// Timeout bounds connecting and each command (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is how many connections are kept open and used at once
	// (default 4). Sends beyond it wait for a free connection.
	PoolSize int `yaml:"pool_size"`
	// IdleTimeout closes a pooled connection unused for this long, before
	// the server drops it (default 30s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	if c.Host == "" {
		c.Host = "localhost"
	}
	if c.Port == 0 {
		c.Port = 587
	}
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.PoolSize == 0 {
		c.PoolSize = 4
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
}

// Validate checks the section; errors name the key below email.smtp.
func (c Config) Validate() error {
	switch {
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("port: %d is not a TCP port", c.Port)
	case c.TLS != TLSStartTLS && c.TLS != TLSOpportunistic && c.TLS != TLSImplicit && c.TLS != TLSNone:
		return fmt.Errorf("tls: %q is not one of starttls, opportunistic, implicit, none", c.TLS)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	case c.PoolSize < 1 || c.PoolSize > 100:
		return fmt.Errorf("pool_size: %d is not between 1 and 100", c.PoolSize)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("idle_timeout: %s must be positive", c.IdleTimeout)
	case c.Password != "" && c.Username == "":
		return fmt.Errorf("username: must be set with password")
	}
	return nil
}
