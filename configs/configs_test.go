package configs_test

import (
	"testing"

	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
)

// The embedded profile caches in process; the Redis profile caches in
// Redis (the product contract names the driver), and
// TIPBOX_CACHE_DRIVER=tiered selects the tiered cache (decisions/0022).
func TestProfileCacheDrivers(t *testing.T) {
	for _, tc := range []struct {
		profile string
		env     []string
		want    string
	}{
		{"default.yaml", nil, "memory"},
		{"redis.yaml", nil, "redis"},
		{"redis.yaml", []string{"TIPBOX_CACHE_DRIVER=tiered"}, "tiered"},
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
