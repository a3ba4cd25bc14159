// Package redis is the cross-process realtime bus (driver "redis"): Redis
// pub/sub on one channel, {channel_prefix}events. Every API instance
// subscribes and keeps the events of users it holds sockets for; cmd/worker
// (or any instance) publishes. Messages are JSON, readable with
// `redis-cli SUBSCRIBE tipbox:realtime:events`:
//
//	{"userId":7,"payload":{"type":"NEW_BADGE",...}}
//
// Delivery is at most once, as pub/sub is: an instance that is cut from
// Redis misses what is published meanwhile (the inbox keeps it). The
// subscription survives Redis restarts: it reconnects and resubscribes by
// itself, and a silent dead connection is detected by pinging when idle.
//
// The bus owns its client (built from the top-level redis section): the
// queue or cache closing theirs cannot take it down.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/realtime"
)

// Config is the section realtime.redis.
type Config struct {
	// ChannelPrefix is put before the channel name "events" (default
	// "tipbox:realtime:"). Deployments sharing one Redis set their own.
	ChannelPrefix string `yaml:"channel_prefix"`
	// HealthCheck is how long a quiet subscription waits before it pings
	// Redis; with no answer for another interval it reconnects (default 5s).
	HealthCheck time.Duration `yaml:"health_check"`
	// PresenceTTL is how long an instance's presence entries outlive it
	// (default 15s): a killed instance's sockets stop counting within it.
	// Each instance refreshes its entries every third of it.
	PresenceTTL time.Duration `yaml:"presence_ttl"`
}

// SetDefaults applies the documented defaults.
func (c *Config) SetDefaults() {
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = "tipbox:realtime:"
	}
	if c.HealthCheck == 0 {
		c.HealthCheck = 5 * time.Second
	}
	if c.PresenceTTL == 0 {
		c.PresenceTTL = 15 * time.Second
	}
}

// Validate checks the interval.
func (c Config) Validate() error {
	if c.HealthCheck < 100*time.Millisecond {
		return fmt.Errorf("health_check: %s must be at least 100ms", c.HealthCheck)
	}
	if c.PresenceTTL < time.Second {
		return fmt.Errorf("presence_ttl: %s must be at least 1s", c.PresenceTTL)
	}
	return nil
}

// Channel is the pub/sub channel for cfg.
func (c Config) Channel() string { return c.ChannelPrefix + "events" }

// Bus is the Redis pub/sub bus. Safe for concurrent use.
type Bus struct {
	client  goredis.UniversalClient
	channel string
	health  time.Duration
	log     *slog.Logger
	closed  atomic.Bool

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

// New builds a Bus with its own client for conn. It does not dial.
func New(cfg Config, conn redisconn.Config, log *slog.Logger) (*Bus, error) {
	client, err := redisconn.NewClient(conn)
	if err != nil {
		return nil, err
	}
	return NewWithClient(client, cfg, log), nil
}

// NewWithClient builds a Bus over client, which it takes over: Close
// closes it.
func NewWithClient(client goredis.UniversalClient, cfg Config, log *slog.Logger) *Bus {
	cfg.SetDefaults()
	return &Bus{
		client: client, channel: cfg.Channel(), health: cfg.HealthCheck,
		log:  log.With("component", "realtime", "bus", "redis", "channel", cfg.Channel()),
		subs: map[*subscription]struct{}{},
	}
}

// envelope is the message on the channel.
type envelope struct {
	UserID  int64           `json:"userId"`
	Payload json.RawMessage `json:"payload"`
}

func encode(ev realtime.Event) []byte {
	b := make([]byte, 0, len(ev.Payload)+40)
	b = append(b, `{"userId":`...)
	b = strconv.AppendInt(b, ev.UserID, 10)
	b = append(b, `,"payload":`...)
	b = append(b, ev.Payload...)
	return append(b, '}')
}

func decode(msg string) (realtime.Event, error) {
	var e envelope
	if err := json.Unmarshal([]byte(msg), &e); err != nil {
		return realtime.Event{}, err
	}
	if e.UserID <= 0 || len(e.Payload) == 0 || e.Payload[0] != '{' {
		return realtime.Event{}, errors.New("not a realtime envelope")
	}
	return realtime.Event{UserID: e.UserID, Payload: e.Payload}, nil
}

// Publish implements realtime.Bus: one PUBLISH. It fails when Redis cannot
// be reached (the caller logs and goes on); it does not know or care
// whether any instance holds the user's socket.
func (b *Bus) Publish(ctx context.Context, ev realtime.Event) error {
	if b.closed.Load() {
		return realtime.ErrClosed
	}
	if err := b.client.Publish(ctx, b.channel, encode(ev)).Err(); err != nil {
		return fmt.Errorf("realtime redis: publish: %w", err)
	}
	return nil
}

// PublishBatch implements realtime.BatchBus: one PUBLISH per event, all in
// one pipeline (one round trip, one connection of the pool). It fails as
// Publish does, with the first failed command's error.
func (b *Bus) PublishBatch(ctx context.Context, evs []realtime.Event) error {
	if b.closed.Load() {
		return realtime.ErrClosed
	}
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, ev := range evs {
			p.Publish(ctx, b.channel, encode(ev))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("realtime redis: publish %d events: %w", len(evs), err)
	}
	return nil
}

var _ realtime.BatchBus = (*Bus)(nil)

// Subscribe implements realtime.Bus. It waits (up to ctx, at most 2s) for
// Redis to confirm the subscription so events published after it returns
// are received; if Redis is down it returns nil anyway and keeps trying in
// the background: push degrades, the program runs.
func (b *Bus) Subscribe(ctx context.Context, handle func(realtime.Event)) (func(), error) {
	if b.closed.Load() {
		return nil, realtime.ErrClosed
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &subscription{bus: b, handle: handle, ctx: sctx, cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	s.ps = b.client.Subscribe(sctx, b.channel)
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.loop()
	wait, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	select {
	case <-s.ready:
	case <-wait.Done():
		b.log.Warn("realtime subscription not confirmed yet; retrying in the background")
	}
	return s.close, nil
}

// Close ends every subscription and closes the client.
func (b *Bus) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	b.mu.Lock()
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	return b.client.Close()
}

type subscription struct {
	bus    *Bus
	handle func(realtime.Event)
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{}
	once   sync.Once

	mu sync.Mutex
	ps *goredis.PubSub
}

func (s *subscription) close() {
	s.once.Do(func() {
		s.cancel()
		s.mu.Lock()
		_ = s.ps.Close()
		s.mu.Unlock()
		<-s.done
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
	})
}

// renew replaces a PubSub whose connection went silent.
func (s *subscription) renew() *goredis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.ps.Close()
	if s.ctx.Err() == nil {
		s.ps = s.bus.client.Subscribe(s.ctx, s.bus.channel)
	}
	return s.ps
}

// loop receives until close. go-redis reconnects and resubscribes on the
// next receive after a connection error; the loop backs off between
// failed attempts and pings when idle to find connections that died
// without a reset.
func (s *subscription) loop() {
	defer close(s.done)
	log := s.bus.log
	s.mu.Lock()
	ps := s.ps
	s.mu.Unlock()
	var readyOnce sync.Once
	backoff := 50 * time.Millisecond
	down, idle := false, 0
	for {
		msg, err := ps.ReceiveTimeout(s.ctx, s.bus.health)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if idle++; idle >= 2 {
					log.Warn("realtime subscription silent; reconnecting")
					ps, idle = s.renew(), 0
					continue
				}
				_ = ps.Ping(s.ctx)
				continue
			}
			if !down {
				log.Warn("realtime subscription lost; retrying", "err", err)
				down = true
			}
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		idle, backoff = 0, 50*time.Millisecond
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				if down {
					log.Info("realtime subscription restored")
					down = false
				}
				readyOnce.Do(func() { close(s.ready) })
			}
		case *goredis.Message:
			ev, err := decode(m.Payload)
			if err != nil {
				log.Warn("realtime: ignoring a malformed message", "err", err)
				continue
			}
			s.handle(ev)
		}
	}
}

var _ realtime.Bus = (*Bus)(nil)

// NewDriver returns the "redis" driver. The pools of its clients are
// exported through pools as clients "realtime" and "presence" (nil: not
// exported).
func NewDriver(cfg Config, conn redisconn.Config, log *slog.Logger, pools *redisconn.Pools) realtime.Driver {
	return realtime.Driver{Name: "redis", Open: func(context.Context) (realtime.Bus, error) {
		b, err := New(cfg, conn, log)
		if err == nil {
			pools.Add("realtime", b.client)
			log.Info("redis realtime bus ready", "mode", conn.Mode(), "channel", cfg.Channel())
		}
		return b, err
	}, OpenPresence: func(context.Context) (realtime.PresenceStore, error) {
		cfg.SetDefaults()
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		client, err := redisconn.NewClient(conn)
		if err != nil {
			return nil, err
		}
		pools.Add("presence", client)
		return NewPresence(client, cfg.ChannelPrefix, cfg.PresenceTTL, log), nil
	}}
}

// Module registers the "redis" driver and the section realtime.redis. It
// needs redisconn.Config (redisconn.Module).
var Module = fx.Module("realtime.redis",
	config.Provide[Config]("realtime.redis"),
	realtime.AsDriver(NewDriver),
)
