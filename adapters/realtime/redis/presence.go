package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/realtime"
)

// Presence shares socket counts across API instances in Redis:
//
//	{prefix}presence:user:{id}        hash: instance id → that instance's sockets of the user
//	{prefix}presence:instance:{inst}  "1" with a TTL: the instance is alive
//
// Each instance writes its own fields when a count changes and, every
// presence_ttl/3, refreshes its instance key and all its fields (so the
// hashes expire when nobody holds the user). A reader sums the fields of
// live instances: a killed instance's sockets stop counting when its
// instance key expires (presence_ttl) and its fields are deleted then.
// Writes happen on one background goroutine; Set never blocks.
type Presence struct {
	client   goredis.UniversalClient
	prefix   string
	instance string
	ttl      time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	counts map[int64]int
	dirty  map[int64]struct{}
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// NewPresence starts a presence store on client (which it takes over:
// Close closes it) with keys under prefix.
func NewPresence(client goredis.UniversalClient, prefix string, ttl time.Duration, log *slog.Logger) *Presence {
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := &Presence{
		client: client, prefix: prefix + "presence:", instance: hex.EncodeToString(b[:]), ttl: ttl,
		log:    log.With("component", "realtime", "presence", "redis"),
		counts: map[int64]int{}, dirty: map[int64]struct{}{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go p.loop()
	return p
}

func (p *Presence) userKey(id int64) string    { return p.prefix + "user:" + strconv.FormatInt(id, 10) }
func (p *Presence) instKey(inst string) string { return p.prefix + "instance:" + inst }

// Set implements realtime.PresenceStore.
func (p *Presence) Set(userID int64, n int) {
	p.mu.Lock()
	if n > 0 {
		p.counts[userID] = n
	} else {
		delete(p.counts, userID)
	}
	p.dirty[userID] = struct{}{}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Count implements realtime.PresenceStore.
func (p *Presence) Count(ctx context.Context, userID int64) (int, error) {
	fields, err := p.client.HGetAll(ctx, p.userKey(userID)).Result()
	if err != nil {
		return 0, fmt.Errorf("realtime redis: presence: %w", err)
	}
	if len(fields) == 0 {
		return 0, nil
	}
	insts := make([]string, 0, len(fields))
	cmds := make([]*goredis.IntCmd, 0, len(fields))
	_, err = p.client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for inst := range fields {
			insts = append(insts, inst)
			cmds = append(cmds, pipe.Exists(ctx, p.instKey(inst)))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("realtime redis: presence: %w", err)
	}
	total := 0
	var dead []string
	for i, inst := range insts {
		if cmds[i].Val() == 0 {
			dead = append(dead, inst)
			continue
		}
		n, _ := strconv.Atoi(fields[inst])
		total += n
	}
	if len(dead) > 0 {
		_ = p.client.HDel(ctx, p.userKey(userID), dead...).Err() // best effort
	}
	return total, nil
}

// Close implements realtime.PresenceStore: it removes this instance's
// entries and closes the client.
func (p *Presence) Close() error {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.mu.Lock()
		users := make([]int64, 0, len(p.counts)+len(p.dirty))
		for id := range p.counts {
			users = append(users, id)
		}
		for id := range p.dirty {
			users = append(users, id)
		}
		p.mu.Unlock()
		_, _ = p.client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
			pipe.Del(ctx, p.instKey(p.instance))
			for _, id := range users {
				pipe.HDel(ctx, p.userKey(id), p.instance)
			}
			return nil
		})
	})
	return p.client.Close()
}

// loop writes changes as they come and refreshes everything every ttl/3.
func (p *Presence) loop() {
	defer close(p.done)
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	p.flush(true)
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
			p.flush(false)
		case <-tick.C:
			p.flush(true)
		}
	}
}

// flush writes the dirty users (all users when full) in one pipeline. On
// failure the users stay dirty and are written on the next round.
func (p *Presence) flush(full bool) {
	p.mu.Lock()
	batch := make(map[int64]int, len(p.dirty))
	if full {
		for id, n := range p.counts {
			batch[id] = n
		}
	}
	for id := range p.dirty {
		batch[id] = p.counts[id]
	}
	clear(p.dirty)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hashTTL := 2 * p.ttl
	_, err := p.client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		if full {
			pipe.Set(ctx, p.instKey(p.instance), "1", p.ttl)
		}
		for id, n := range batch {
			if n > 0 {
				pipe.HSet(ctx, p.userKey(id), p.instance, n)
				pipe.PExpire(ctx, p.userKey(id), hashTTL)
			} else {
				pipe.HDel(ctx, p.userKey(id), p.instance)
			}
		}
		return nil
	})
	if err != nil {
		p.log.Warn("presence not written; retrying", "err", err)
		p.mu.Lock()
		for id := range batch {
			p.dirty[id] = struct{}{}
		}
		p.mu.Unlock()
	}
}

var _ realtime.PresenceStore = (*Presence)(nil)
