// Package adapters bundles the built-in adapters. Each registers itself by
// name in its port's value group, so only the one config selects is used:
// a program that wants fewer adapters (or a third party's) lists its own.
package adapters

import (
	"go.uber.org/fx"

	cachememory "github.com/tipbox/tipbox/adapters/cache/memory"
	cachenone "github.com/tipbox/tipbox/adapters/cache/none"
	cacheredis "github.com/tipbox/tipbox/adapters/cache/redis"
	cachetiered "github.com/tipbox/tipbox/adapters/cache/tiered"
	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/adapters/email/devmail"
	"github.com/tipbox/tipbox/adapters/email/smtp"
	"github.com/tipbox/tipbox/adapters/push/devpush"
	"github.com/tipbox/tipbox/adapters/push/webpush"
	queuememory "github.com/tipbox/tipbox/adapters/queue/memory"
	queuepostgres "github.com/tipbox/tipbox/adapters/queue/postgres"
	queueredis "github.com/tipbox/tipbox/adapters/queue/redis"
	ratelimitredis "github.com/tipbox/tipbox/adapters/ratelimit/redis"
	rtmemory "github.com/tipbox/tipbox/adapters/realtime/memory"
	rtredis "github.com/tipbox/tipbox/adapters/realtime/redis"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/email"
	"github.com/tipbox/tipbox/core/push"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
)

// All is every built-in adapter plus the ports' core modules (the
// producer side of the queue included; the queue workers are separate).
var All = fx.Options(
	redisconn.Module,
	database.Module, sqlite.Module, postgres.Module,
	cache.Module, cachenone.Module, cachememory.Module, cacheredis.Module, cachetiered.Module,
	queue.Module, queuememory.Module, queueredis.Module, queuepostgres.Module,
	realtime.Module, rtmemory.Module, rtredis.Module,
	email.Module, smtp.Module, devmail.Module,
	push.Module, webpush.Module, devpush.Module,
	ratelimitredis.Module,
)
