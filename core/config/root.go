package config

import (
	"fmt"
	"time"
)

// Root is the top level of a profile: what the whole process shares.
type Root struct {
	// Env is "development" or "production". Production turns on JSON logs
	// and strict websocket origins, and refuses the development JWT secret.
	Env string `yaml:"env"`
	// ShutdownTimeout bounds a graceful stop: HTTP, then workers, queues,
	// cache and Redis clients must all be closed within it.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// StartTimeout bounds the start hooks (database migration included).
	StartTimeout time.Duration `yaml:"start_timeout"`
	Log          struct {
		Level  string `yaml:"level"`  // debug, info, warn, error
		Format string `yaml:"format"` // text or json; default by env
	} `yaml:"log"`
}

// SetDefaults applies the documented defaults.
func (r *Root) SetDefaults() {
	if r.Env == "" {
		r.Env = "development"
	}
	if r.ShutdownTimeout == 0 {
		r.ShutdownTimeout = 15 * time.Second
	}
	if r.StartTimeout == 0 {
		r.StartTimeout = 30 * time.Second
	}
	if r.Log.Level == "" {
		r.Log.Level = "info"
	}
	if r.Log.Format == "" {
		r.Log.Format = "text"
		if r.Production() {
			r.Log.Format = "json"
		}
	}
}

// Validate checks the enumerations.
func (r Root) Validate() error {
	switch r.Env {
	case "development", "production", "test":
	default:
		return fmt.Errorf("env: %q is not one of development, production, test", r.Env)
	}
	switch r.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", r.Log.Level)
	}
	switch r.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not one of text, json", r.Log.Format)
	}
	if r.ShutdownTimeout < 0 {
		return fmt.Errorf("shutdown_timeout: %s must be positive", r.ShutdownTimeout)
	}
	return nil
}

// Production reports whether Env is "production".
func (r Root) Production() bool { return r.Env == "production" }
