package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tipbox/tipbox/core/registry"
)

var errNotFound = errors.New("x: unknown driver")

func TestFind(t *testing.T) {
	t.Parallel()
	id := func(s string) string { return s }
	got, err := registry.Find([]string{"redis", "memory"}, id, "cache.driver", "memory", errNotFound)
	if err != nil || got != "memory" {
		t.Fatalf("%q %v", got, err)
	}
	_, err = registry.Find([]string{"redis", "memory"}, id, "cache.driver", "mongo", errNotFound)
	if !errors.Is(err, errNotFound) || !strings.Contains(err.Error(), `cache.driver: "mongo" is not one of memory, redis`) {
		t.Fatalf("%v", err)
	}
	_, err = registry.Find(nil, id, "cache.driver", "memory", errNotFound)
	if !strings.Contains(err.Error(), "none (no adapter module") {
		t.Fatalf("%v", err)
	}
	_, err = registry.Find([]string{"a", "a"}, id, "cache.driver", "a", errNotFound)
	if err == nil || !strings.Contains(err.Error(), "registered 2 times") {
		t.Fatalf("%v", err)
	}
}
