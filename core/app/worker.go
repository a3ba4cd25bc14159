package app

import (
	"fmt"
	"net"

	"github.com/tipbox/tipbox/core/config"
)

// WorkerConfig is the `worker` section: where queue consumers run.
type WorkerConfig struct {
	// Embedded runs the queue consumers inside cmd/api (default true). The
	// Redis profile sets it false and runs them in cmd/worker. A pointer so
	// that an explicit false survives SetDefaults; read it with
	// RunsEmbedded.
	Embedded *bool `yaml:"embedded"`
	// AdminAddr is where cmd/worker serves /healthz, /readyz and /metrics.
	AdminAddr string `yaml:"admin_addr"`
}

// SetDefaults applies the documented defaults.
func (c *WorkerConfig) SetDefaults() {
	if c.Embedded == nil {
		t := true
		c.Embedded = &t
	}
	if c.AdminAddr == "" {
		c.AdminAddr = ":9090"
	}
}

// Validate checks the admin address.
func (c WorkerConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		return fmt.Errorf("admin_addr: %q is not host:port (e.g. :9090)", c.AdminAddr)
	}
	return nil
}

// RunsEmbedded reports whether cmd/api runs the queue consumers itself.
func (c WorkerConfig) RunsEmbedded() bool { return c.Embedded == nil || *c.Embedded }

// WorkerSection provides WorkerConfig from the `worker` section.
var WorkerSection = config.Provide[WorkerConfig]("worker")
