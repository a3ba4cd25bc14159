// Package follows is the second worked example of docs/writing-a-module.md:
// a module with a config section, migrations, its own queue, a job handler
// and a websocket push. A user follows another; the followed user's open
// sockets get a NEW_FOLLOWER event, sent by a job so that the request does
// not wait on the push.
package follows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/examples/follows/migrations"
)

// Queue is the module's own queue; Job is its one job.
const (
	Queue = "follows"
	Job   = "notify_followee"
)

// Config is the `follows` section.
type Config struct {
	// MaxFollowing is how many users one user may follow.
	MaxFollowing int `yaml:"max_following"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.MaxFollowing == 0 {
		c.MaxFollowing = 1000
	}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	if c.MaxFollowing < 1 {
		return fmt.Errorf("max_following: %d must be at least 1", c.MaxFollowing)
	}
	return nil
}

// Errors the routes map to statuses.
var (
	ErrSelf  = errors.New("follows: a user cannot follow themselves")
	ErrLimit = errors.New("follows: following limit reached")
)

// Store keeps who follows whom.
type Store struct{ db *database.DB }

// NewStore works without fx.
func NewStore(db *database.DB) *Store { return &Store{db: db} }

// Add records follower → followee; it reports false when it was already
// there.
func (s *Store) Add(ctx context.Context, follower, followee int64) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO follows (follower, followee, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		follower, followee, time.Now().UnixMicro())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Following counts whom a user follows.
func (s *Store) Following(ctx context.Context, follower int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM follows WHERE follower = $1`, follower).Scan(&n)
	return n, err
}

// Followers lists a user's followers, newest first.
func (s *Store) Followers(ctx context.Context, followee int64) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT follower FROM follows WHERE followee = $1 ORDER BY created_at DESC LIMIT 100`, followee)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Service follows and queues the notification.
type Service struct {
	store *Store
	queue queue.Enqueuer
	cfg   Config
}

// NewService works without fx.
func NewService(store *Store, q queue.Enqueuer, cfg Config) *Service {
	return &Service{store: store, queue: q, cfg: cfg}
}

// notice is the job's payload.
type notice struct {
	Follower int64 `json:"follower"`
	Followee int64 `json:"followee"`
}

// Follow makes follower follow followee and, the first time, queues the
// followee's notification. The job id is derived from the pair, so a
// retried request does not notify twice.
func (s *Service) Follow(ctx context.Context, follower, followee int64) error {
	if follower == followee {
		return ErrSelf
	}
	n, err := s.store.Following(ctx, follower)
	if err != nil {
		return err
	}
	if n >= s.cfg.MaxFollowing {
		return ErrLimit
	}
	added, err := s.store.Add(ctx, follower, followee)
	if err != nil || !added {
		return err
	}
	_, err = s.queue.Enqueue(ctx, Queue, Job, notice{Follower: follower, Followee: followee},
		queue.WithJobID(fmt.Sprintf("follow-%d-%d", follower, followee)))
	return err
}

// Notifier is the job handler: it pushes the event to the followee's
// sockets, on whichever API instance they are.
type Notifier struct{ pub realtime.Publisher }

// Handler is the queue handler of Job.
func (n Notifier) Handler() queue.Handler {
	return queue.Handler{Queue: Queue, Name: Job, Handle: func(ctx context.Context, j *queue.Job) error {
		var p notice
		if err := json.Unmarshal(j.Payload, &p); err != nil || p.Followee <= 0 {
			return queue.Permanent(fmt.Errorf("follows: bad payload: %s", j.Payload))
		}
		return n.pub.Publish(ctx, p.Followee, map[string]any{"type": "NEW_FOLLOWER", "follower": p.Follower})
	}}
}

// Routes are the module's HTTP routes.
type Routes struct {
	svc *Service
	v   *auth.Verifier
}

// NewRoutes works without fx.
func NewRoutes(svc *Service, v *auth.Verifier) *Routes { return &Routes{svc: svc, v: v} }

// Endpoints lists the routes; each declares who may call it.
func (r *Routes) Endpoints() []httpserver.Route {
	return []httpserver.Route{
		{Method: "POST", Path: "/api/v1/users/:id/follow", Access: r.v.SignedIn(), Handler: r.follow, Action: "follows.follow"},
		{Method: "GET", Path: "/api/v1/users/:id/followers", Access: r.v.SignedIn(), Handler: r.followers},
	}
}

func userID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpserver.BadRequest("user id must be a positive integer")
	}
	return id, nil
}

func (r *Routes) follow(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	me, _ := auth.PrincipalFrom(c)
	switch err := r.svc.Follow(c.UserContext(), me.UserID, id); {
	case errors.Is(err, ErrSelf), errors.Is(err, ErrLimit):
		return httpserver.BadRequest(err.Error())
	case err != nil:
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (r *Routes) followers(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	ids, err := r.svc.store.Followers(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"followers": ids})
}

// Module is the follows module.
var Module = module.Spec{
	Name:       "follows",
	Config:     module.Config[Config](),
	Migrations: migrations.FS,
	Queues:     []string{Queue},
	Provide:    []any{NewStore, NewService},
	Routes:     []any{NewRoutes},
	Jobs:       []any{func(p realtime.Publisher) queue.Handler { return Notifier{pub: p}.Handler() }},
}
