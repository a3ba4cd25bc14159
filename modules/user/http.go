package user

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Handlers serves /api/v1/users.
type Handlers struct {
	svc *Service
	v   *auth.Verifier
}

// NewHandlers returns the module's routes.
func NewHandlers(svc *Service, v *auth.Verifier) *Handlers { return &Handlers{svc: svc, v: v} }

// RegisterRoutes implements httpserver.Routes.
func (h *Handlers) RegisterRoutes(r fiber.Router) {
	g := r.Group("/api/v1/users", h.v.Required())
	g.Post("/", auth.RequireRole(auth.RoleAdmin), h.create)
	g.Get("/:id/profile", h.getProfile)
	g.Patch("/:id/profile", h.patchProfile)
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

func (h *Handlers) create(c *fiber.Ctx) error {
	var req createRequest
	if err := DecodeJSON(c, &req); err != nil {
		return err
	}
	u, err := h.svc.Create(c.UserContext(), User{Username: req.Username, Email: req.Email, DisplayName: req.DisplayName, Bio: req.Bio})
	if err != nil {
		return mapError(err)
	}
	return c.Status(http.StatusCreated).JSON(userResponse(u))
}

func (h *Handlers) getProfile(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, status, err := h.svc.Profile(c.UserContext(), id)
	c.Set("X-Cache", string(status))
	if err != nil {
		return mapError(err)
	}
	return c.JSON(visible(p, c))
}

func (h *Handlers) patchProfile(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if pr, _ := auth.PrincipalFrom(c); pr.UserID != id && !pr.IsAdmin() {
		return httpserver.Error(http.StatusForbidden, "forbidden", "only the user or an admin may change this profile")
	}
	var patch Patch
	if err := DecodeJSON(c, &patch); err != nil {
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
	if pr, _ := auth.PrincipalFrom(c); pr.UserID != p.ID && !pr.IsAdmin() {
		p.Email = ""
	}
	return p
}

func pathID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpserver.BadRequest("user id must be a positive integer")
	}
	return id, nil
}

// DecodeJSON decodes the request body strictly into dst: malformed JSON,
// unknown fields, trailing data or a wrong type are 400s that say what is
// wrong.
func DecodeJSON(c *fiber.Ctx, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return httpserver.BadRequest("request body must be a JSON object")
		case errors.As(err, &te):
			return httpserver.BadRequest(fmt.Sprintf("field %s: want %s", te.Field, te.Type))
		default:
			return httpserver.BadRequest("invalid JSON: " + err.Error())
		}
	}
	if dec.More() {
		return httpserver.BadRequest("invalid JSON: trailing data after the object")
	}
	return nil
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
