package user

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Routes serves /api/v1/users.
type Routes struct {
	svc *Service
	v   *auth.Verifier
}

// NewRoutes returns the module's routes.
func NewRoutes(svc *Service, v *auth.Verifier) *Routes { return &Routes{svc: svc, v: v} }

// Endpoints implements httpserver.Endpoints.
func (h *Routes) Endpoints() []httpserver.Route {
	return []httpserver.Route{
		{Method: "POST", Path: "/api/v1/users", Access: h.v.Role(auth.RoleAdmin), Handler: h.create, Action: "user.create"},
		{Method: "GET", Path: "/api/v1/users/:id/profile", Access: h.v.SignedIn(), Handler: h.getProfile},
		{Method: "PATCH", Path: "/api/v1/users/:id/profile", Access: h.v.SignedIn(), Handler: h.patchProfile, Action: "user.update"},
	}
}

type createRequest struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Bio         string `json:"bio"`
}

type userResponse struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	DisplayName string    `json:"displayName"`
	Bio         string    `json:"bio"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func (h *Routes) create(c *fiber.Ctx) error {
	var req createRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	u, err := h.svc.Create(c.UserContext(), User{Username: req.Username, Email: req.Email, DisplayName: req.DisplayName, Bio: req.Bio})
	if err != nil {
		return mapError(err)
	}
	httpserver.AuditTarget(c, "user:"+strconv.FormatInt(u.ID, 10))
	return c.Status(http.StatusCreated).JSON(userResponse(u))
}

func (h *Routes) getProfile(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	e, status, err := h.svc.cachedProfile(c.UserContext(), id)
	c.Set("X-Cache", string(status))
	if err != nil {
		return mapError(err)
	}
	pr, _ := auth.PrincipalFrom(c)
	body, err := e.json(mayReadEmail(pr, e.ID))
	if err != nil {
		return err
	}
	// What c.JSON would send, from bytes shared with other readers of the
	// entry (SetBodyRaw neither copies nor modifies them).
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBodyRaw(body)
	return nil
}

func (h *Routes) patchProfile(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if pr, _ := auth.PrincipalFrom(c); pr.UserID != id && !pr.IsAdmin() {
		return httpserver.Error(http.StatusForbidden, "forbidden", "only the user or an admin may change this profile")
	}
	var patch Patch
	if err := httpserver.DecodeJSON(c, &patch); err != nil {
		return err
	}
	p, err := h.svc.Update(c.UserContext(), id, patch)
	if err != nil {
		return mapError(err)
	}
	return c.JSON(visible(p, c))
}

// visible hides the email from everyone but the user and admins.
func visible(p Profile, c *fiber.Ctx) Profile {
	if pr, _ := auth.PrincipalFrom(c); !mayReadEmail(pr, p.ID) {
		p.Email = ""
	}
	return p
}

// mayReadEmail: a profile's email is shown to its user and to admins.
func mayReadEmail(pr auth.Principal, profileID int64) bool {
	return pr.UserID == profileID || pr.IsAdmin()
}

func pathID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpserver.BadRequest("user id must be a positive integer")
	}
	return id, nil
}

// mapError maps the module's sentinel errors to HTTP.
func mapError(err error) error {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return httpserver.Error(http.StatusBadRequest, "invalid_"+fe.Field, fe.Error())
	case errors.Is(err, ErrNotFound):
		return httpserver.Error(http.StatusNotFound, "user_not_found", "user not found")
	case errors.Is(err, ErrDuplicateUsername):
		return httpserver.Error(http.StatusConflict, "username_taken", "username is already taken")
	case errors.Is(err, ErrDuplicateEmail):
		return httpserver.Error(http.StatusConflict, "email_taken", "email is already taken")
	}
	return err
}
