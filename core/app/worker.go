package app

import (
	"fmt"
	"net"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
)

// WorkerConfig is the `worker` section: where queue consumers run.
type WorkerConfig struct {
	// Embedded runs the queue consumers inside cmd/api. The Redis profile
	// sets it false and runs them in cmd/worker.
	Embedded bool `yaml:"embedded"`
	// AdminAddr is where cmd/worker serves /healthz, /readyz and /metrics.
	AdminAddr string `yaml:"admin_addr"`
}

// SetDefaults applies the documented defaults. Embedded has no default
// here: the zero value false is a valid choice, so the profiles state it.
func (c *WorkerConfig) SetDefaults() {
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

// WorkerModule provides WorkerConfig from the `worker` section.
var WorkerModule = fx.Module("worker", config.Provide[WorkerConfig]("worker"))
