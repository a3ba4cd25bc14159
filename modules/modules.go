// Package modules lists the application's modules once; cmd/api and
// cmd/worker run them all (see the root package tipbox).
package modules

import (
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/modules/analytics"
	"github.com/tipbox/tipbox/modules/gamification"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/user"
)

// All is the application's modules.
var All = []module.Spec{
	user.Module,
	gamification.Module,
	notification.Module,
	analytics.Module,
}
