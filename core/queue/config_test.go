package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/config"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Driver != "memory" || c.Concurrency != 5 || c.Retry.MaxAttempts != 3 || c.Retry.Backoff.Initial != 2*time.Second ||
		c.Retry.Backoff.Multiplier != 2 || c.Retention.Completed != 100 || c.Retention.Failed != 50 ||
		len(c.Queues) != 0 {
		t.Fatalf("defaults %+v", c)
	}
	bad := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Concurrency = -1 }, "concurrency:"},
		{func(c *Config) { c.Retry.MaxAttempts = -2 }, "retry.max_attempts:"},
		{func(c *Config) { c.Retry.Backoff.Multiplier = 0.5 }, "retry.backoff.multiplier:"},
		{func(c *Config) { c.Queues = []string{"a b"} }, "queues:"},
		{func(c *Config) { c.Queues = []string{"a", "a"} }, "listed twice"},
		{func(c *Config) { c.Retention.Failed = -1 }, "retention.failed:"},
	}
	for _, tc := range bad {
		c := Config{}
		c.SetDefaults()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := BackoffConfig{Initial: 2 * time.Second, Multiplier: 2}
	for attempt, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second} {
		if got := b.Backoff(attempt); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
	b.Max = 5 * time.Second
	if got := b.Backoff(3); got != 5*time.Second {
		t.Errorf("capped: %s", got)
	}
}

func TestFindDriverAndRequireShared(t *testing.T) {
	t.Parallel()
	ds := []Driver{{Name: "memory"}, {Name: "redis", Shared: true}}
	if _, err := FindDriver(ds, "mongo"); !errors.Is(err, ErrUnknownDriver) || !strings.Contains(err.Error(), "memory, redis") {
		t.Fatalf("unknown driver: %v", err)
	}
	d, err := FindDriver(ds, "memory")
	if err != nil {
		t.Fatal(err)
	}
	if err := RequireShared(d); !errors.Is(err, ErrNotShared) || !strings.Contains(err.Error(), "queue.driver") {
		t.Fatalf("memory: %v", err)
	}
	if err := RequireShared(ds[1]); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerValidation(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.SetDefaults()
	cfg.Queues = []string{"analytics"}
	h := func(context.Context, *Job) error { return nil }
	if _, err := buildDispatch(cfg, []Handler{{Queue: "nope", Handle: h}}); !errors.Is(err, ErrQueueNotFound) {
		t.Fatalf("unknown queue: %v", err)
	}
	if _, err := buildDispatch(cfg, []Handler{{Queue: "analytics", Name: "x", Handle: h}, {Queue: "analytics", Name: "x", Handle: h}}); err == nil {
		t.Fatal("duplicate handler accepted")
	}
	d, err := buildDispatch(cfg, []Handler{{Queue: "analytics", Name: "x", Handle: h}, {Queue: "analytics", Handle: h}})
	if err != nil || d["analytics"].handler("x") == nil || d["analytics"].handler("other") == nil {
		t.Fatalf("dispatch %v %v", d, err)
	}
}

// Backoff is monotone in the attempt and never above its cap or below
// zero, for every attempt up to 1,000 (it used to overflow to a negative
// duration around attempt 34).
func TestBackoffMonotoneAndCapped(t *testing.T) {
	t.Parallel()
	for _, b := range []BackoffConfig{
		{Initial: 2 * time.Second, Multiplier: 2, Max: time.Hour},
		{Initial: 2 * time.Second, Multiplier: 2},
		{Initial: time.Millisecond, Multiplier: 10, Max: 24 * time.Hour},
		{Initial: 0, Multiplier: 3, Max: time.Minute},
	} {
		prev := time.Duration(0)
		for n := 1; n <= 1000; n++ {
			d := b.Backoff(n)
			if d < prev || d < 0 || (b.Max > 0 && d > b.Max) {
				t.Fatalf("%+v: Backoff(%d) = %s after %s", b, n, d, prev)
			}
			prev = d
		}
	}
	var c Config
	c.SetDefaults()
	if got := c.Retry.Backoff.Backoff(34); got != time.Hour {
		t.Fatalf("default Backoff(34) = %s, want the 1h cap", got)
	}
}

// Modules declare queues; the profile adds more; together they must name
// a queue, and every limit one of them.
func TestWithQueues(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	c.Queues = []string{"extra", "mail"}
	got, err := c.WithQueues([]string{"mail", "kudos", "kudos"})
	if err != nil || strings.Join(got.Queues, ",") != "mail,kudos,extra" {
		t.Fatalf("queues %v, %v; want mail,kudos,extra", got.Queues, err)
	}
	c.Queues = nil
	if _, err := c.WithQueues(nil); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "queue.queues") {
		t.Errorf("no queue: %v, want a config error naming queue.queues", err)
	}
	c.Limits = []string{"nope=5/1s"}
	if _, err := c.WithQueues([]string{"kudos"}); !errors.Is(err, config.ErrInvalid) ||
		!strings.Contains(err.Error(), `queue.limits: "nope" names no queue (declared: kudos)`) {
		t.Errorf("limit on no queue: %v", err)
	}
	if _, err := (Config{}).WithQueues([]string{"a b"}); !errors.Is(err, ErrBadQueueName) {
		t.Errorf("bad declared name: %v, want ErrBadQueueName", err)
	}
}

func TestLimitsConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limits []string
		want   string
	}{
		{[]string{"analytics=200/1s"}, ""},
		{[]string{"analytics=0/1s"}, "limits:"},
		{[]string{"analytics=-5/1s"}, "limits:"},
		{[]string{"analytics=5/0s"}, "limits:"},
		{[]string{"analytics=5"}, "limits:"},
		{[]string{"analytics=5/1s", "analytics=6/1s"}, "limited twice"},
	} {
		var c Config
		c.SetDefaults()
		c.Limits = tc.limits
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.limits, err, tc.want)
		}
	}
	var c Config
	c.SetDefaults()
	c.Limits = []string{"analytics=200/1s"}
	c, err := c.WithQueues([]string{"analytics"})
	if err != nil {
		t.Fatal(err)
	}
	if l := c.QueueLimits()["analytics"]; l.Max != 200 || l.Per != time.Second {
		t.Fatalf("limit %+v", l)
	}
}
