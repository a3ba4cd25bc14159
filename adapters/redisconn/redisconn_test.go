package redisconn_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/internal/testenv"
)

func TestTopologies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	single, err := redisconn.NewClient(redisconn.Config{URL: "redis://" + testenv.RedisAddr(t) + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if _, ok := single.(*redis.Client); !ok {
		t.Fatalf("url gave %T, want *redis.Client", single)
	}
	if err := single.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	addrs := testenv.StartRedisCluster(t, 3)
	cluster, err := redisconn.NewClient(redisconn.Config{Addrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	if _, ok := cluster.(*redis.ClusterClient); !ok {
		t.Fatalf("addrs gave %T, want *redis.ClusterClient", cluster)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := cluster.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("cluster set %s: %v", k, err)
		}
	}
	sentinel, _ := redisconn.NewClient(redisconn.Config{Addrs: []string{"127.0.0.1:1"}, MasterName: "m"})
	defer sentinel.Close()
	if got := (redisconn.Config{Addrs: []string{"x"}, MasterName: "m"}).Mode(); got != "sentinel" {
		t.Fatalf("mode %s", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  redisconn.Config
		want string
	}{
		{redisconn.Config{URL: "http://x"}, "url:"},
		{redisconn.Config{URL: "redis://x", Addrs: []string{"y"}}, "either url or addrs"},
		{redisconn.Config{MasterName: "m", URL: "redis://x"}, "master_name"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestFailFast(t *testing.T) {
	t.Parallel()
	c, err := redisconn.NewClient(redisconn.Config{URL: "redis://127.0.0.1:1/0"}, redisconn.FailFast())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	if o.DialerRetries != 1 || o.MaxRetries != 0 { // go-redis normalises -1 (no retries) to 0
		t.Fatalf("DialerRetries %d MaxRetries %d, want 1 and 0", o.DialerRetries, o.MaxRetries)
	}
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	d, _ := redisconn.NewClient(redisconn.Config{URL: "redis://127.0.0.1:1/0"})
	defer d.Close()
	if o := d.(*redis.Client).Options(); o.DialerRetries <= 1 {
		t.Fatalf("default DialerRetries %d, want go-redis' retries", o.DialerRetries)
	}
}
