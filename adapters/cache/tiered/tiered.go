// Package tiered is the two-level cache adapter (driver "tiered"): an
// in-process otter L1 in front of Redis (L2), with the L1s of every
// instance kept coherent through Redis pub/sub.
//
// Coherence: every Set and Delete publishes the key on a channel; every
// instance evicts that key from its L1 when the message arrives (well
// within 100 ms on a LAN: one PUBLISH fan-out). An L1 is trusted only while
// its subscription is confirmed: when the subscription drops (Redis down,
// network), the L1 is emptied and bypassed, since invalidations may be
// missed, and it is emptied again when the subscription is back. A fill of
// L1 from Redis that raced with an invalidation of the same key is dropped
// (per-key generations), so a late reply never resurrects an old value.
// L1 entries also live at most l1_ttl, and never longer than the Redis
// entry they copy.
package tiered

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/cache/memory"
	redisstore "github.com/tipbox/tipbox/adapters/cache/redis"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
)

const stripes = 64

// Store is the tiered cache.Store. Safe for concurrent use.
type Store struct {
	cfg     Config
	l1      *memory.Store
	l2      *redisstore.Store
	id      string
	channel string
	cluster bool
	log     *slog.Logger

	// live is true while the invalidation subscription is confirmed; L1 is
	// read and filled only then.
	live atomic.Bool
	seed maphash.Seed
	// Per-stripe generation, bumped under the stripe's lock by every write
	// and invalidation; a fill from L2 is applied only if its stripe's
	// generation did not move while it read L2.
	mu  [stripes]sync.Mutex
	gen [stripes]atomic.Uint64

	ps     *goredis.PubSub
	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool
}

// New builds a Store with its own Redis client for conn and starts its
// subscription in the background (a Redis that is down at start leaves the
// store usable: calls fail until it is back, and L1 stays off until the
// subscription is confirmed).
func New(cfg Config, conn redisconn.Config, log *slog.Logger) (*Store, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cache.tiered: %w", err)
	}
	l1, err := memory.New(memory.Config{MaxEntries: cfg.L1MaxEntries})
	if err != nil {
		return nil, err
	}
	l2, err := redisstore.New(redisstore.Config{Prefix: cfg.Prefix, Timeout: cfg.Timeout}, conn)
	if err != nil {
		_ = l1.Close()
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, cluster := l2.Client().(*goredis.ClusterClient)
	s := &Store{
		cfg: cfg, l1: l1, l2: l2,
		id:      uuid.NewString(),
		channel: cfg.Prefix + cfg.Channel,
		cluster: cluster,
		log:     log,
		seed:    maphash.MakeSeed(),
		done:    make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.ps = l2.Client().Subscribe(ctx, s.channel)
	go s.listen(ctx)
	return s, nil
}

// Live reports whether the invalidation subscription is confirmed (L1 in use).
func (s *Store) Live() bool { return s.live.Load() }

func (s *Store) stripe(key string) int { return int(maphash.String(s.seed, key) % stripes) }

// Get implements cache.Store: L1, else Redis (copying the entry into L1).
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, cache.ErrClosed
	}
	live := s.live.Load()
	if live {
		if v, err := s.l1.Get(ctx, key); err == nil {
			return v, nil
		}
	}
	i := s.stripe(key)
	g := s.gen[i].Load()
	v, ttl, err := s.l2.GetWithTTL(ctx, key)
	if err != nil {
		return nil, err
	}
	if live {
		if ttl <= 0 || ttl > s.cfg.L1TTL {
			ttl = s.cfg.L1TTL
		}
		s.mu[i].Lock()
		if s.gen[i].Load() == g && s.live.Load() {
			s.l1.SetShared(key, v, ttl)
		}
		s.mu[i].Unlock()
	}
	return v, nil
}

// Set implements cache.Store: Redis first, then the invalidation for the
// other instances, then this instance's L1.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	err := s.write(ctx, func(p goredis.Cmdable) error {
		return p.Set(ctx, s.l2.Key(key), value, max(ttl, 0)).Err()
	}, key)
	i := s.stripe(key)
	s.mu[i].Lock()
	s.gen[i].Add(1)
	if err == nil && s.live.Load() {
		l1ttl := s.cfg.L1TTL
		if ttl > 0 && ttl < l1ttl {
			l1ttl = ttl
		}
		s.l1.SetShared(key, append([]byte{}, value...), l1ttl)
	} else {
		s.l1.Delete(ctx, key) //nolint:errcheck // cannot fail on an open L1
	}
	s.mu[i].Unlock()
	if err != nil {
		return fmt.Errorf("cache tiered: set: %w", err)
	}
	return nil
}

// Delete implements cache.Store. This instance's L1 loses the keys even
// when Redis fails.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	var err error
	if s.cluster {
		// Keys of different slots: one DEL each (the redis store splits
		// them per node), then the invalidations.
		if err = s.l2.Delete(ctx, keys...); err == nil {
			err = s.publish(ctx, s.l2.Client(), keys...)
		}
	} else {
		full := make([]string, len(keys))
		for i, k := range keys {
			full[i] = s.l2.Key(k)
		}
		err = s.write(ctx, func(p goredis.Cmdable) error { return p.Del(ctx, full...).Err() }, keys...)
	}
	for _, k := range keys {
		s.evict(k)
	}
	if err != nil {
		return fmt.Errorf("cache tiered: delete: %w", err)
	}
	return nil
}

// write runs the Redis write then publishes keys: pipelined on one server
// (one round trip, executed in order); on a Cluster the write and the
// PUBLISH may go to different nodes, so the PUBLISH waits for the write,
// lest another instance re-read the old value on hearing it.
func (s *Store) write(ctx context.Context, op func(goredis.Cmdable) error, keys ...string) error {
	if s.cluster {
		if err := op(s.l2.Client()); err != nil {
			return err
		}
		return s.publish(ctx, s.l2.Client(), keys...)
	}
	_, err := s.l2.Client().Pipelined(ctx, func(p goredis.Pipeliner) error {
		_ = op(p)
		return s.publish(ctx, p, keys...)
	})
	return err
}

func (s *Store) publish(ctx context.Context, c goredis.Cmdable, keys ...string) error {
	for _, k := range keys {
		if err := c.Publish(ctx, s.channel, s.id+" "+k).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements cache.Store (Redis's state).
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	return s.l2.Ping(ctx)
}

// Close stops the subscription and closes L1 and the Redis client.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return cache.ErrClosed
	}
	s.cancel()
	perr := s.ps.Close()
	<-s.done
	_ = s.l1.Close()
	return errors.Join(perr, s.l2.Close())
}

var _ cache.Store = (*Store)(nil)

// Module registers the "tiered" driver and the section cache.tiered. It
// needs redisconn.Config (redisconn.Module).
var Module = fx.Module("cache.tiered",
	config.Provide[Config]("cache.tiered"),
	cache.AsDriver(NewDriver),
)

// DriverParams are what the driver is built from (through fx).
type DriverParams struct {
	fx.In
	Config Config
	// Redis is the section cache.redis, when the redis driver is
	// registered: its prefix is this driver's when cache.tiered.prefix is
	// not set, so a profile written for the redis driver keeps its keys.
	Redis redisstore.Config `optional:"true"`
	Conn  redisconn.Config
	Log   *slog.Logger
	// Pools, when set, exports the client's pool as client "cache".
	Pools *redisconn.Pools `optional:"true"`
}

// NewDriver returns the "tiered" driver.
func NewDriver(p DriverParams) cache.Driver {
	cfg, conn, log := p.Config, p.Conn, p.Log
	if cfg.Prefix == "" {
		cfg.Prefix = p.Redis.Prefix
	}
	return cache.Driver{Name: "tiered", Open: func(context.Context) (cache.Store, error) {
		s, err := New(cfg, conn, log)
		if err == nil {
			p.Pools.Add("cache", s.l2.Client())
			log.Info("tiered cache ready", "mode", conn.Mode(), "prefix", cfg.Prefix, "l1_max_entries", cfg.L1MaxEntries, "l1_ttl", cfg.L1TTL)
		}
		return s, err
	}}
}

// StableValues implements cache.StableValues: an L1 hit returns the slice
// L1 keeps, which is never modified.
func (s *Store) StableValues() bool { return true }
