// Package auth issues and verifies HS256 JWTs and guards routes with them.
//
// Claims: sub is the user id (a decimal string), role is "user" or "admin",
// exp is required. The development secret is accepted only when env is
// development (with a warning), so a forgotten override cannot reach any
// other deployment; production also wants a secret with real entropy.
//
// Routes say who may call them with an Access (Public, SignedIn, Role);
// core/httpserver attaches the check to each route itself.
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/maypok86/otter/v2"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
)

// Roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
	// RoleViewer may read every admin route and the dashboard, never act.
	RoleViewer = "viewer"
)

// DevSecret is the secret of the embedded profile. Never use it in production.
const DevSecret = "tipbox-development-secret-do-not-use-in-production"

// Sentinel errors.
var (
	ErrNoToken      = errors.New("auth: no bearer token")
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrSecretRefused: auth.jwt_secret is not acceptable in this
	// environment (the public development secret, or too little entropy in
	// production). It is a configuration error (config.ErrInvalid).
	ErrSecretRefused = config.InvalidError("auth: secret refused")
)

// Config is the `auth` section.
type Config struct {
	JWTSecret string        `yaml:"jwt_secret"`
	Issuer    string        `yaml:"issuer"`
	TokenTTL  time.Duration `yaml:"token_ttl"` // default lifetime of issued tokens
	// Leeway tolerates clock skew between the issuer and this process.
	Leeway time.Duration `yaml:"leeway"`
}

// SetDefaults applies the documented defaults.
func (c *Config) SetDefaults() {
	if c.JWTSecret == "" {
		c.JWTSecret = DevSecret
	}
	if c.Issuer == "" {
		c.Issuer = "tipbox"
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
}

// MaxLeeway bounds auth.leeway: clock skew between hosts is seconds, and
// a larger leeway only extends every token's life.
const MaxLeeway = 5 * time.Minute

// MinSecretEntropy is the least estimated entropy, in bits, of a secret in
// production.
const MinSecretEntropy = 128

// Validate checks the secret's length, the lifetime and the leeway.
func (c Config) Validate() error {
	if len(c.JWTSecret) < 32 {
		return fmt.Errorf("jwt_secret: must be at least 32 bytes (got %d)", len(c.JWTSecret))
	}
	if c.TokenTTL <= 0 {
		return fmt.Errorf("token_ttl: %s must be positive", c.TokenTTL)
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		return fmt.Errorf("leeway: %s must be from 0s to %s", c.Leeway, MaxLeeway)
	}
	return nil
}

// secretEntropy estimates the entropy of s in bits: its length times the
// Shannon entropy of its byte frequencies. It catches repeated or
// low-variety secrets ("aaaa…", "abab…", a word repeated); it cannot tell
// a random string from a long sentence, which is why the documented way
// to make a secret is 48 random bytes.
func secretEntropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	var perByte float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			perByte -= p * math.Log2(p)
		}
	}
	return perByte * n
}

// New returns the Verifier for cfg in the environment env (the root env
// key): the development secret is refused unless env is "development",
// where log gets a warning; in "production" the secret must also carry at
// least MinSecretEntropy bits.
func New(cfg Config, env string, log *slog.Logger) (*Verifier, error) {
	cfg.SetDefaults()
	if cfg.JWTSecret == DevSecret {
		if env != "development" {
			return nil, fmt.Errorf("%w: auth.jwt_secret: the development secret is refused when env is %q (it is accepted only in development); set TIPBOX_AUTH_JWT_SECRET", ErrSecretRefused, env)
		}
		log.Warn("auth.jwt_secret is the public development secret: anyone can sign tokens, admin ones included, for this server; "+
			"set TIPBOX_AUTH_JWT_SECRET before it is reachable by anyone else", "component", "auth")
	}
	if env == "production" {
		if bits := secretEntropy(cfg.JWTSecret); bits < MinSecretEntropy {
			return nil, fmt.Errorf("%w: auth.jwt_secret: estimated entropy %.0f bits is below %d; use 48 random bytes, e.g. `openssl rand -base64 48`", ErrSecretRefused, bits, MinSecretEntropy)
		}
	}
	return NewVerifier(cfg, env == "production")
}

// Principal is the authenticated caller.
type Principal struct {
	UserID int64
	Role   string
	// ExpiresAt is the token's exp claim; Leeway past it the token is
	// refused (long-lived connections close then).
	ExpiresAt time.Time
}

// IsAdmin reports whether the caller has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Verifier signs and checks tokens. It is safe for concurrent use.
//
// Verified tokens are remembered (bounded, until they expire): an HS256
// check plus claim parsing costs more than serving a cached profile, and a
// client sends the same token on every request. Remembering is sound
// because verification is deterministic for a given token and secret; the
// expiry is still checked on every use.
type Verifier struct {
	secret []byte
	cfg    Config
	parser *jwt.Parser
	seen   *otter.Cache[string, verified]
}

type verified struct {
	p   Principal
	exp time.Time
}

// NewVerifier returns a Verifier for cfg; production refuses DevSecret
// and secrets of low entropy. Programs use New, which applies the policy
// of every environment; tests build verifiers with this.
func NewVerifier(cfg Config, production bool) (*Verifier, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if production && cfg.JWTSecret == DevSecret {
		return nil, fmt.Errorf("%w: auth.jwt_secret: the development secret is refused when env is production; set TIPBOX_AUTH_JWT_SECRET", ErrSecretRefused)
	}
	if production && secretEntropy(cfg.JWTSecret) < MinSecretEntropy {
		return nil, fmt.Errorf("%w: auth.jwt_secret: estimated entropy %.0f bits is below %d; use 48 random bytes, e.g. `openssl rand -base64 48`", ErrSecretRefused, secretEntropy(cfg.JWTSecret), MinSecretEntropy)
	}
	return &Verifier{
		secret: []byte(cfg.JWTSecret),
		cfg:    cfg,
		seen:   otter.Must(&otter.Options[string, verified]{MaximumSize: 10_000}),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithLeeway(cfg.Leeway),
		),
	}, nil
}

type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// Issue signs a token for the user with the role, valid for ttl (the
// configured default when ttl is zero).
func (v *Verifier) Issue(userID int64, role string, ttl time.Duration) (string, error) {
	if role != RoleUser && role != RoleAdmin && role != RoleViewer {
		return "", fmt.Errorf("auth: role %q is not one of user, admin, viewer", role)
	}
	if ttl <= 0 {
		ttl = v.cfg.TokenTTL
	}
	now := time.Now()
	c := claims{Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Subject: strconv.FormatInt(userID, 10), Issuer: v.cfg.Issuer,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(v.secret)
}

// Parse verifies a token and returns its principal. Every failure is
// ErrInvalidToken (wrapping the reason). It keeps no reference to token's
// bytes (the caller may pass a view of a reused buffer).
func (v *Verifier) Parse(token string) (Principal, error) {
	if e, ok := v.seen.GetIfPresent(token); ok {
		if time.Now().Before(e.exp.Add(v.cfg.Leeway)) {
			return e.p, nil
		}
		v.seen.Invalidate(token)
	}
	token = strings.Clone(token)
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.secret, nil })
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return Principal{}, fmt.Errorf("%w: sub %q is not a user id", ErrInvalidToken, c.Subject)
	}
	if c.Role != RoleUser && c.Role != RoleAdmin && c.Role != RoleViewer {
		return Principal{}, fmt.Errorf("%w: role %q", ErrInvalidToken, c.Role)
	}
	p := Principal{UserID: id, Role: c.Role, ExpiresAt: c.ExpiresAt.Time}
	v.seen.Set(token, verified{p: p, exp: c.ExpiresAt.Time})
	return p, nil
}

// Leeway is how long past its exp claim a token is still accepted.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

// BearerToken extracts the token from an "Authorization: Bearer x" value.
func BearerToken(header string) (string, error) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", ErrNoToken
	}
	return strings.TrimSpace(tok), nil
}

type ctxKey struct{}

// PrincipalFrom returns the caller set by Required.
func PrincipalFrom(c *fiber.Ctx) (Principal, bool) {
	p, ok := c.Locals(ctxKey{}).(Principal)
	return p, ok
}

// Required rejects requests without a valid bearer token with 401 and
// stores the principal for PrincipalFrom. It is SignedIn().Handler().
func (v *Verifier) Required() fiber.Handler { return v.SignedIn().Handler() }

// RequireRole rejects callers that have none of the roles with 403. Use
// after Required.
func RequireRole(roles ...string) fiber.Handler {
	want := strings.Join(roles, " or ")
	return func(c *fiber.Ctx) error {
		p, ok := PrincipalFrom(c)
		if !ok {
			return &fiber.Error{Code: fiber.StatusUnauthorized, Message: "missing bearer token"}
		}
		for _, r := range roles {
			if p.Role == r {
				return c.Next()
			}
		}
		return &fiber.Error{Code: fiber.StatusForbidden, Message: "requires role " + want}
	}
}

// Module provides the *Verifier from the `auth` section.
var Module = fx.Module("auth",
	config.Provide[Config]("auth"),
	fx.Provide(func(cfg Config, root config.Root, log *slog.Logger) (*Verifier, error) {
		return New(cfg, root.Env, log)
	}),
)
