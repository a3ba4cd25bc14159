// Package modules bundles the application's modules for the two programs.
package modules

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/modules/user"
)

// API is what cmd/api runs.
var API = fx.Options(
	user.Module,
)

// Worker is what cmd/worker runs: the modules' queue handlers.
var Worker = fx.Options()
