package user

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/tipbox/tipbox/core/cache"
)

// Badge is a badge as shown on a profile.
type Badge struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Icon      string    `json:"icon"`
	GrantedAt time.Time `json:"grantedAt"`
}

// BadgeSource lists a user's badges for the profile. The gamification
// module provides it; without one, profiles show no badges.
type BadgeSource interface {
	BadgesOf(ctx context.Context, userID int64) ([]Badge, error)
}

// Profile is the cached read model of a user. Email is always filled here;
// the HTTP layer shows it only to the user and admins.
type Profile struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	Email       string    `json:"email,omitempty"`
	DisplayName string    `json:"displayName"`
	Bio         string    `json:"bio"`
	Badges      []Badge   `json:"badges"`
	BadgeCount  int       `json:"badgeCount"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Patch is a partial profile update: nil fields are left as they are.
type Patch struct {
	Username    *string `json:"username"`
	Email       *string `json:"email"`
	DisplayName *string `json:"displayName"`
	Bio         *string `json:"bio"`
}

// ProfileKey is the cache key of a user's profile (user:<id>:profile, the key the Node service used).
func ProfileKey(id int64) string { return "user:" + strconv.FormatInt(id, 10) + ":profile" }

// Service is the user module's application layer. Safe for concurrent use.
type Service struct {
	store  Store
	cache  *ProfileCache
	badges BadgeSource
	log    *slog.Logger
	known  *otter.Cache[int64, struct{}] // ids found to exist (Exists)
}

// Ids that Exists remembers, and for how long.
const (
	knownIDs = 1 << 16
	knownTTL = 5 * time.Minute
)

// NewService wires a Service. profiles serves profiles; badges may be nil.
func NewService(store Store, profiles *ProfileCache, badges BadgeSource, log *slog.Logger) *Service {
	return &Service{store: store, cache: profiles, badges: badges, log: log.With("module", "user"),
		known: otter.Must(&otter.Options[int64, struct{}]{
			MaximumSize:      knownIDs,
			ExpiryCalculator: otter.ExpiryWriting[int64, struct{}](knownTTL),
		})}
}

// Exists reports whether the user exists. The app never deletes a user,
// so an id found once is remembered (up to knownIDs of them, each for
// knownTTL) and asked again costs no query: a badge grant checks its user
// this way on every request. A row deleted by hand in the database is seen
// gone at the latest knownTTL later.
func (s *Service) Exists(ctx context.Context, id int64) (bool, error) {
	if _, ok := s.known.GetIfPresent(id); ok {
		return true, nil
	}
	_, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	s.known.Set(id, struct{}{})
	return true, nil
}

// Create validates and stores a new user.
func (s *Service) Create(ctx context.Context, u User) (User, error) {
	u.Username = strings.TrimSpace(u.Username)
	u.Email = strings.TrimSpace(u.Email)
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	created, err := s.store.Create(ctx, u)
	if err != nil {
		return User{}, err
	}
	s.log.InfoContext(ctx, "user created", "user_id", created.ID)
	return created, nil
}

// Profile returns the user's profile through the cache, and how it was
// served. A cache that fails is bypassed; only the database's errors (and
// ErrNotFound) come back.
func (s *Service) Profile(ctx context.Context, id int64) (Profile, cache.Status, error) {
	e, status, err := s.cachedProfile(ctx, id)
	return e.Profile, status, err
}

// cachedProfile is Profile with the entry's JSON answers (for the HTTP
// handler). The answers are nil when err is not.
func (s *Service) cachedProfile(ctx context.Context, id int64) (cachedProfile, cache.Status, error) {
	return s.cache.aside.Get(ctx, ProfileKey(id), func(ctx context.Context) (cachedProfile, error) {
		p, err := s.loadProfile(ctx, id)
		if err != nil {
			return cachedProfile{}, err
		}
		return newCachedProfile(p), nil
	})
}

func (s *Service) loadProfile(ctx context.Context, id int64) (Profile, error) {
	u, err := s.store.Get(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{
		ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Bio: u.Bio,
		Badges: []Badge{}, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if s.badges != nil {
		b, err := s.badges.BadgesOf(ctx, id)
		if err != nil {
			return Profile{}, fmt.Errorf("user: badges of %d: %w", id, err)
		}
		if b != nil {
			p.Badges = b
		}
	}
	p.BadgeCount = len(p.Badges)
	return p, nil
}

// Update applies a patch, then invalidates the cached profile and returns
// the fresh one (read from the database, not the cache).
func (s *Service) Update(ctx context.Context, id int64, patch Patch) (Profile, error) {
	_, err := s.store.Update(ctx, id, func(u *User) error {
		if patch.Username != nil {
			u.Username = strings.TrimSpace(*patch.Username)
		}
		if patch.Email != nil {
			u.Email = strings.TrimSpace(*patch.Email)
		}
		if patch.DisplayName != nil {
			u.DisplayName = *patch.DisplayName
		}
		if patch.Bio != nil {
			u.Bio = *patch.Bio
		}
		return u.Validate()
	})
	if err != nil {
		return Profile{}, err
	}
	s.InvalidateProfiles(ctx, id)
	return s.loadProfile(ctx, id)
}

// InvalidateProfiles drops the users' cached profiles, all in one cache
// call. It is the hook other modules call when something shown on a
// profile changes (the badges of a grant batch). It never fails the
// caller: a cache that is down is logged and counted by the cache layer,
// which retries the invalidation when the cache returns.
func (s *Service) InvalidateProfiles(ctx context.Context, ids ...int64) {
	if len(ids) == 0 {
		return
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = ProfileKey(id)
	}
	if err := s.cache.aside.Invalidate(ctx, keys...); err != nil && !errors.Is(err, context.Canceled) {
		s.log.WarnContext(ctx, "profile invalidation failed", "user_ids", ids, "err", err)
	}
}

// WarmIDs returns the ids of the n most recently active users.
func (s *Service) WarmIDs(ctx context.Context, n int) ([]int64, error) {
	return s.store.RecentlyActive(ctx, n)
}
