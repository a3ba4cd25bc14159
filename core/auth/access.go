package auth

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/gofiber/fiber/v2"
)

// Access says who may call a route: anyone (Public), any caller with a
// valid token (Verifier.SignedIn), or a caller whose token carries one of
// some roles (Verifier.Role). Its zero value is "not declared", which
// core/httpserver refuses to mount, so a route cannot forget to say.
//
// The check is a handler attached to the route itself, never middleware
// of a group or prefix: Fiber's group middleware covers only the routes
// registered after it, and modules are registered in no fixed order.
type Access struct {
	v      *Verifier
	public bool
	roles  []string
}

// Public is the Access of a route anyone may call without a token.
func Public() Access { return Access{public: true} }

// SignedIn is the Access of a route any caller with a valid token may call.
func (v *Verifier) SignedIn() Access { return Access{v: v} }

// Role is the Access of a route for callers whose token has one of roles.
func (v *Verifier) Role(roles ...string) Access {
	return Access{v: v, roles: slices.Clone(roles)}
}

// Declared reports whether a was built by Public, SignedIn or Role.
func (a Access) Declared() bool { return a.public || a.v != nil }

// IsPublic reports whether the route needs no token.
func (a Access) IsPublic() bool { return a.public }

// Roles are the roles a caller needs (one of them); empty for Public and
// SignedIn.
func (a Access) Roles() []string { return slices.Clone(a.roles) }

// String describes a for error messages and logs.
func (a Access) String() string {
	switch {
	case a.public:
		return "public"
	case a.v == nil:
		return "undeclared"
	case len(a.roles) == 0:
		return "signed in"
	}
	return "role " + strings.Join(a.roles, "|")
}

// Handler enforces a: nothing for a public route; otherwise 401 without a
// valid bearer token and 403 without one of the roles. The response is
// marked Cache-Control: no-store. It reuses the principal Identify found.
func (a Access) Handler() fiber.Handler {
	if a.public {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	if a.v == nil {
		panic("auth: Access is not declared (use auth.Public, Verifier.SignedIn or Verifier.Role)")
	}
	return func(c *fiber.Ctx) error {
		NoStore(c)
		p, err := a.v.principal(c)
		if err != nil {
			return err
		}
		if len(a.roles) > 0 && !slices.Contains(a.roles, p.Role) {
			return &fiber.Error{Code: fiber.StatusForbidden, Message: "requires role " + strings.Join(a.roles, " or ")}
		}
		return c.Next()
	}
}

// Identify is server-wide middleware: when the request carries a bearer
// token it verifies it and stores the principal (for PrincipalFrom, rate
// limits and audit lines) and marks the response Cache-Control: no-store.
// It never rejects: an invalid token is remembered, and a route's Access
// answers 401 for it.
func (v *Verifier) Identify() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if len(c.Request().Header.PeekBytes(authorizationKey)) == 0 {
			return c.Next()
		}
		NoStore(c)
		_, _ = v.principal(c)
		return c.Next()
	}
}

type identifiedKey struct{}

var (
	authorizationKey = []byte(fiber.HeaderAuthorization)
	cacheControlKey  = []byte(fiber.HeaderCacheControl)
	noStoreValue     = []byte("no-store")
)

// NoStore marks the response Cache-Control: no-store (the header set
// without re-normalising its name: every authenticated request sets it
// on its way through several handlers).
func NoStore(c *fiber.Ctx) {
	c.Response().Header.SetCanonical(cacheControlKey, noStoreValue)
}

// unsafeString views b as a string without copying. The string must not
// outlive b's contents (for a request header: the request).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// principal returns the caller of c, verifying the bearer token once per
// request: the result (principal or error) is kept in the request's locals.
func (v *Verifier) principal(c *fiber.Ctx) (Principal, error) {
	if p, ok := PrincipalFrom(c); ok {
		return p, nil
	}
	if err, ok := c.Locals(identifiedKey{}).(error); ok {
		return Principal{}, err
	}
	// The header's bytes are read in place, not copied: the token is used
	// only to look up and verify (Parse copies one before remembering it).
	tok, err := BearerToken(unsafeString(c.Request().Header.PeekBytes(authorizationKey)))
	if err != nil {
		err = &fiber.Error{Code: fiber.StatusUnauthorized, Message: "missing bearer token"}
		c.Locals(identifiedKey{}, err)
		return Principal{}, err
	}
	p, err := v.Parse(tok)
	if err != nil {
		err = &fiber.Error{Code: fiber.StatusUnauthorized, Message: "invalid or expired token"}
		c.Locals(identifiedKey{}, err)
		return Principal{}, err
	}
	c.Locals(ctxKey{}, p)
	return p, nil
}
