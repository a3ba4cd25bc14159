package memory

import (
	"testing"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Store {
		s, err := New(Config{MaxEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, cachetest.Features{})
}
