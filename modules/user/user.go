// Package user is the user module: accounts and their public profiles.
//
// It owns the users table (its migrations are embedded), the profile read path
// (served through the cache-aside helper) and the HTTP routes under
// /api/v1/users. Other modules reach it through the small interfaces they
// declare themselves; it knows none of them.
package user

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the user module. Handlers map them to HTTP statuses;
// nothing below the handlers knows about HTTP.
var (
	ErrNotFound          = errors.New("user: not found")
	ErrDuplicateUsername = errors.New("user: username already taken")
	ErrDuplicateEmail    = errors.New("user: email already taken")
	ErrInvalid           = errors.New("user: invalid input")
)

// User is the stored account.
type User struct {
	ID          int64
	Username    string
	Email       string
	DisplayName string
	Bio         string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Store persists users. Implementations must be safe for concurrent use.
//
// Update follows the closure style: the store loads the user, calls fn with
// it and persists what fn left in it, all inside one transaction, so the
// read-modify-write cannot interleave with another writer. fn returning an
// error aborts the update and that error is returned unchanged.
type Store interface {
	// Create inserts u (ID, CreatedAt and UpdatedAt are assigned by the
	// store) and returns the stored user. A taken username or email gives
	// ErrDuplicateUsername or ErrDuplicateEmail.
	Create(ctx context.Context, u User) (User, error)
	// Get returns the user with that id, or ErrNotFound.
	Get(ctx context.Context, id int64) (User, error)
	// Update applies fn to the stored user and persists it (UpdatedAt is
	// set by the store). ErrNotFound, ErrDuplicateUsername and
	// ErrDuplicateEmail as for Create.
	Update(ctx context.Context, id int64, fn func(*User) error) (User, error)
	// RecentlyActive returns the ids of up to n users, most recently
	// updated first (used for cache warming).
	RecentlyActive(ctx context.Context, n int) ([]int64, error)
}
