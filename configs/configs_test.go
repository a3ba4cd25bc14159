package configs_test

import (
	"testing"
	"time"

	cacheredis "github.com/tipbox/tipbox/adapters/cache/redis"
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

// The redis profile keeps cached entries in process, kept fresh by Redis'
// invalidations (decisions/0028): a cached read costs no round trip, with
// the driver the product contract names.
func TestRedisProfileKeepsEntriesInProcess(t *testing.T) {
	data, err := configs.FS.ReadFile("redis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{nil, {"TIPBOX_CACHE_REDIS_CLIENT_CACHE_ENTRIES=0"}} {
		src, err := config.Parse("redis.yaml", data, env)
		if err != nil {
			t.Fatal(err)
		}
		var c cacheredis.Config
		if err := src.Decode("cache.redis", &c); err != nil {
			t.Fatal(err)
		}
		c.SetDefaults()
		want := 10000
		if env != nil {
			want = 0
		}
		if c.ClientCacheEntries != want || c.ClientCacheTTL != 10*time.Second || c.ClientCacheSweep != 20*time.Millisecond {
			t.Errorf("env %v: client_cache_entries %d, client_cache_ttl %s, client_cache_sweep %s; want %d, 10s, 20ms",
				env, c.ClientCacheEntries, c.ClientCacheTTL, c.ClientCacheSweep, want)
		}
	}
}
