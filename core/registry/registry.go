// Package registry finds a named plug-in (a driver) among those that
// adapter modules contributed to an fx value group. Every port (database,
// cache, queue, realtime) selects its adapter by a config key this way, so
// the error a user sees for a wrong name is the same everywhere.
package registry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tipbox/tipbox/core/config"
)

// Find returns the item whose name (by nameOf) is name. When there is none
// it returns an error wrapping notFound and config.ErrInvalid (a wrong name
// is a configuration error, exit 2) that names the config key and the
// registered names; when two are registered under name, an error saying so
// (a wiring mistake: two modules claim one name).
func Find[T any](items []T, nameOf func(T) string, key, name string, notFound error) (T, error) {
	var zero, found T
	matches := 0
	names := make([]string, 0, len(items))
	for _, it := range items {
		n := nameOf(it)
		names = append(names, n)
		if n == name {
			found = it
			matches++
		}
	}
	switch {
	case matches == 1:
		return found, nil
	case matches > 1:
		return zero, fmt.Errorf("%s: %q is registered %d times", key, name, matches)
	}
	slices.Sort(names)
	registered := strings.Join(names, ", ")
	if registered == "" {
		registered = "none (no adapter module for it is installed)"
	}
	return zero, unknownError{msg: fmt.Sprintf("%s: %q is not one of %s", key, name, registered), sentinel: notFound}
}

// unknownError reads as its message alone: the key and the names say it
// all, and the program prefixes its own name.
type unknownError struct {
	msg      string
	sentinel error
}

func (e unknownError) Error() string   { return e.msg }
func (e unknownError) Unwrap() []error { return []error{e.sentinel, config.ErrInvalid} }
