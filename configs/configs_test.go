package configs_test

import (
	"testing"

	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
)

// The embedded profile caches in process; the Redis profile uses the
// tiered cache (an in-process L1 kept coherent across instances through
// Redis, over Redis: decisions/0022), and TIPBOX_CACHE_DRIVER=redis still
// selects the plain Redis cache.
func TestProfileCacheDrivers(t *testing.T) {
	for _, tc := range []struct {
		profile string
		env     []string
		want    string
	}{
		{"default.yaml", nil, "memory"},
		{"redis.yaml", nil, "tiered"},
		{"redis.yaml", []string{"TIPBOX_CACHE_DRIVER=redis"}, "redis"},
	} {
		data, err := configs.FS.ReadFile(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		src, err := config.Parse(tc.profile, data, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		var c cache.Config
		if err := src.Decode("cache", &c); err != nil {
			t.Fatal(err)
		}
		if c.Driver != tc.want {
			t.Errorf("%s %v: cache.driver %q, want %q", tc.profile, tc.env, c.Driver, tc.want)
		}
	}
}
