package push

import (
	"bytes"
	"crypto/ecdh"
	"fmt"
	"strings"
	"time"
)

// Config is the `push` section.
type Config struct {
	// Driver names the registered driver: webpush (sends), log
	// (development: logs each message) or none.
	Driver string `yaml:"driver"`
	// VAPIDPublicKey and VAPIDPrivateKey are the application server's key
	// pair, base64url (`api vapid` prints a new pair). Browsers subscribe
	// with the public key; changing the pair orphans every subscription.
	VAPIDPublicKey  string `yaml:"vapid_public_key"`
	VAPIDPrivateKey string `yaml:"vapid_private_key"`
	// Subject is the contact push services may use: a mailto: or https: URI.
	Subject string `yaml:"subject"`
	// Timeout bounds one request to a push service (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "log"
	}
	if c.Subject == "" {
		c.Subject = "mailto:admin@localhost"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate checks the subject and that the keys, when set, are a pair.
func (c Config) Validate() error {
	if !strings.HasPrefix(c.Subject, "mailto:") && !strings.HasPrefix(c.Subject, "https://") {
		return fmt.Errorf("subject: %q must start with mailto: or https://", c.Subject)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	if c.VAPIDPublicKey == "" && c.VAPIDPrivateKey == "" {
		return nil
	}
	priv, err := decodeKey(c.VAPIDPrivateKey)
	if err != nil || len(priv) != 32 {
		return fmt.Errorf("vapid_private_key: want 32 bytes of base64url (run `api vapid` for a pair)")
	}
	pub, err := decodeKey(c.VAPIDPublicKey)
	if err != nil || len(pub) != 65 {
		return fmt.Errorf("vapid_public_key: want 65 bytes of base64url (run `api vapid` for a pair)")
	}
	k, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("vapid_private_key: not a P-256 key: %v", err)
	}
	if !bytes.Equal(k.PublicKey().Bytes(), pub) {
		return fmt.Errorf("vapid_public_key: does not belong to vapid_private_key")
	}
	return nil
}

// HasKeys reports whether a VAPID pair is configured.
func (c Config) HasKeys() bool { return c.VAPIDPrivateKey != "" }
