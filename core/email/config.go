package email

import (
	"fmt"
	netmail "net/mail"
)

// Config is the `email` section. Driver settings have sections of their
// own below it (email.smtp).
type Config struct {
	// Driver names the registered driver: smtp, log (development: logs
	// each message and sends nothing) or none (drops every message).
	Driver string `yaml:"driver"`
	// From is the sender of every message that names none, e.g.
	// "Tipbox <no-reply@example.com>".
	From string `yaml:"from"`
	// RateLimit is the most messages a second this process hands to the
	// provider (a token bucket; 0 turns it off). Senders wait for a token.
	RateLimit float64 `yaml:"rate_limit"`
	// Burst is the bucket's size: how many messages may go at once after a
	// quiet spell (default: RateLimit rounded up, at least 1).
	Burst int `yaml:"burst"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "log"
	}
	if c.From == "" {
		c.From = "Tipbox <no-reply@localhost>"
	}
	if c.RateLimit == 0 {
		c.RateLimit = 100
	}
	if c.Burst == 0 {
		c.Burst = max(1, int(c.RateLimit+0.999))
	}
}

// Validate checks the sender address and the limits.
func (c Config) Validate() error {
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("from: %q is not an email address (%v)", c.From, err)
	}
	if c.RateLimit < 0 {
		return fmt.Errorf("rate_limit: %g is negative", c.RateLimit)
	}
	if c.Burst < 1 {
		return fmt.Errorf("burst: %d is less than 1", c.Burst)
	}
	return nil
}
