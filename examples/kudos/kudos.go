// Package kudos is the worked example of docs/writing-a-module.md: a
// module with its own config section, migrations, store, service and
// routes, described by one module.Spec. Users send each other kudos.
package kudos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/examples/kudos/migrations"
)

// Config is the module's section, `kudos` in a profile.
type Config struct {
	MaxMessage int `yaml:"max_message"` // longest message, in bytes
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.MaxMessage == 0 {
		c.MaxMessage = 280
	}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	if c.MaxMessage < 1 {
		return fmt.Errorf("max_message: %d must be at least 1", c.MaxMessage)
	}
	return nil
}

// ErrInvalid is returned for a bad kudos; the handler maps it to 400.
var ErrInvalid = errors.New("kudos: invalid")

// Kudos is one message of thanks.
type Kudos struct {
	ID        int64     `json:"id"`
	From      int64     `json:"from"`
	To        int64     `json:"to"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"createdAt"`
}

// Store keeps kudos in the database.
type Store struct{ db *database.DB }

// NewStore works without fx.
func NewStore(db *database.DB) *Store { return &Store{db: db} }

// Add stores k and returns it with its id.
func (s *Store) Add(ctx context.Context, k Kudos) (Kudos, error) {
	k.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO kudos (from_user, to_user, message, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		k.From, k.To, k.Message, k.CreatedAt.UnixMicro()).Scan(&k.ID)
	return k, err
}

// For lists the kudos a user received, newest first.
func (s *Store) For(ctx context.Context, userID int64) ([]Kudos, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, from_user, to_user, message, created_at FROM kudos WHERE to_user = $1 ORDER BY id DESC LIMIT 50`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Kudos{}
	for rows.Next() {
		var k Kudos
		var at int64
		if err := rows.Scan(&k.ID, &k.From, &k.To, &k.Message, &at); err != nil {
			return nil, err
		}
		k.CreatedAt = time.UnixMicro(at).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// Service holds the rules.
type Service struct {
	store *Store
	cfg   Config
}

// NewService works without fx.
func NewService(store *Store, cfg Config) *Service { return &Service{store: store, cfg: cfg} }

// Send validates and stores a kudos.
func (s *Service) Send(ctx context.Context, from, to int64, msg string) (Kudos, error) {
	switch {
	case to <= 0 || to == from:
		return Kudos{}, fmt.Errorf("%w: send kudos to someone else", ErrInvalid)
	case msg == "" || len(msg) > s.cfg.MaxMessage:
		return Kudos{}, fmt.Errorf("%w: message must be 1 to %d bytes", ErrInvalid, s.cfg.MaxMessage)
	}
	return s.store.Add(ctx, Kudos{From: from, To: to, Message: msg})
}

// Routes serves POST /api/v1/kudos and GET /api/v1/users/:id/kudos.
type Routes struct {
	svc *Service
	v   *auth.Verifier
}

// NewRoutes works without fx.
func NewRoutes(svc *Service, v *auth.Verifier) *Routes { return &Routes{svc: svc, v: v} }

// Endpoints implements httpserver.Endpoints: each route says who may call
// it, and the server attaches that check to the route itself.
func (r *Routes) Endpoints() []httpserver.Route {
	return []httpserver.Route{
		{Method: "POST", Path: "/api/v1/kudos", Access: r.v.SignedIn(), Handler: r.send, Action: "kudos.send"},
		{Method: "GET", Path: "/api/v1/users/:id/kudos", Access: r.v.SignedIn(), Handler: r.list},
	}
}

func (r *Routes) send(c *fiber.Ctx) error {
	var req struct {
		To      int64  `json:"to"`
		Message string `json:"message"`
	}
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	me, _ := auth.PrincipalFrom(c)
	k, err := r.svc.Send(c.UserContext(), me.UserID, req.To, req.Message)
	if errors.Is(err, ErrInvalid) {
		return httpserver.BadRequest(err.Error())
	}
	if err != nil {
		return err // a 500; the details stay in the log
	}
	return c.Status(fiber.StatusCreated).JSON(k)
}

func (r *Routes) list(c *fiber.Ctx) error {
	id, err := c.ParamsInt("id")
	if err != nil || id <= 0 {
		return httpserver.BadRequest("user id must be a positive integer")
	}
	list, err := r.svc.store.For(c.UserContext(), int64(id))
	if err != nil {
		return err
	}
	return c.JSON(list)
}

// Module is the kudos module: add it to a program with
// tipbox.WithModules(kudos.Module), or to modules.All.
var Module = module.Spec{
	Name:       "kudos",
	Config:     module.Config[Config](),
	Migrations: migrations.FS,
	Provide:    []any{NewStore, NewService},
	Routes:     []any{NewRoutes},
}
