package user

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// cachedProfile is what the profile cache holds: the profile and its JSON
// answers. The store keeps only the profile's JSON (profileCodec), as it
// always did; the answers live with the decoded value, so over an
// in-process store (memory, tiered's L1), whose decoded values the cache
// keeps per entry, a hit writes bytes encoded once per entry instead of
// encoding the profile on every read.
type cachedProfile struct {
	Profile
	answers *answers // never nil in a value from the cache or the loader
}

func newCachedProfile(p Profile) cachedProfile {
	return cachedProfile{Profile: p, answers: new(answers)}
}

// answers are the two bodies GET /api/v1/users/{id}/profile sends for one
// profile, each encoded when first asked for. They are shared by every
// reader of the entry: never modify the bytes.
type answers struct {
	withEmail, withoutEmail atomic.Pointer[[]byte]
}

// json returns the profile's JSON with the email or without it: the same
// bytes as encoding the Profile (Email emptied) with encoding/json, which
// is what Fiber's c.JSON does.
func (e cachedProfile) json(withEmail bool) ([]byte, error) {
	slot := &e.answers.withoutEmail
	if withEmail {
		slot = &e.answers.withEmail
	}
	if b := slot.Load(); b != nil {
		return *b, nil
	}
	p := e.Profile
	if !withEmail {
		p.Email = ""
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	// Two first readers may both encode; they store the same bytes.
	slot.Store(&b)
	return b, nil
}

// profileCodec stores a cachedProfile as the JSON of its Profile (what the
// cache held before the answers existed, and what redis-cli shows) and
// gives every decoded value answers of its own.
type profileCodec struct{}

func (profileCodec) Marshal(v any) ([]byte, error) {
	e, ok := v.(cachedProfile)
	if !ok {
		return nil, fmt.Errorf("user: profile codec cannot encode %T", v)
	}
	return json.Marshal(e.Profile)
}

func (profileCodec) Unmarshal(data []byte, v any) error {
	e, ok := v.(*cachedProfile)
	if !ok {
		return fmt.Errorf("user: profile codec cannot decode into %T", v)
	}
	if err := json.Unmarshal(data, &e.Profile); err != nil {
		return err
	}
	e.answers = new(answers)
	return nil
}
