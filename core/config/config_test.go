package config_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/config"
)

type cacheConfig struct {
	Driver     string        `yaml:"driver"`
	DefaultTTL time.Duration `yaml:"default_ttl"`
	Warm       struct {
		Count int `yaml:"count"`
	} `yaml:"warm"`
	Tags []string `yaml:"tags"`
}

func (c *cacheConfig) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "memory"
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = time.Hour
	}
}

func (c cacheConfig) Validate() error {
	if c.Driver != "memory" && c.Driver != "redis" {
		return fmt.Errorf("driver: %q is not one of memory, redis", c.Driver)
	}
	return nil
}

type memoryConfig struct {
	MaxEntries int `yaml:"max_entries"`
}

type rootConfig struct {
	Env string `yaml:"env"`
}

func sections() []config.Section {
	return []config.Section{
		{Key: "", Type: reflect.TypeFor[rootConfig]()},
		{Key: "cache", Type: reflect.TypeFor[cacheConfig]()},
		{Key: "cache.memory", Type: reflect.TypeFor[memoryConfig]()},
	}
}

func TestDecodeDefaultsAndEnv(t *testing.T) {
	t.Parallel()
	src, err := config.Parse("p.yaml", []byte("env: development\ncache:\n  driver: redis\n  memory:\n    max_entries: 10\n"),
		[]string{"TIPBOX_CACHE_DEFAULT_TTL=5m", "TIPBOX_CACHE_WARM_COUNT=7", "TIPBOX_CACHE_TAGS=a, b", "TIPBOX_CACHE_MEMORY_MAX_ENTRIES=20"})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Check(sections()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	var c cacheConfig
	if err := src.Decode("cache", &c); err != nil {
		t.Fatal(err)
	}
	if c.Driver != "redis" || c.DefaultTTL != 5*time.Minute || c.Warm.Count != 7 || strings.Join(c.Tags, "|") != "a|b" {
		t.Fatalf("got %+v", c)
	}
	var m memoryConfig
	if err := src.Decode("cache.memory", &m); err != nil || m.MaxEntries != 20 {
		t.Fatalf("memory: %+v %v", m, err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown key", "cache:\n  drivr: redis\n", nil, "unknown key cache.drivr (allowed under cache: default_ttl, driver, memory, tags, warm)"},
		{"unknown section", "cahce: {}\n", nil, "unknown key cahce"},
		{"bad value", "cache:\n  driver: mongo\n", nil, `cache.driver: "mongo" is not one of memory, redis`},
		{"bad type", "cache:\n  default_ttl: soon\n", nil, `cache.default_ttl: cannot use "soon": want a duration`},
		{"bad env type", "", []string{"TIPBOX_CACHE_MEMORY_MAX_ENTRIES=lots"}, `cache.memory.max_entries: cannot use "lots": want a whole number`},
		{"unknown env", "", []string{"TIPBOX_CACHE_COLOUR=red"}, "environment variable TIPBOX_CACHE_COLOUR does not name a config key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := config.Parse("p.yaml", []byte(tc.yaml), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			err = src.Check(sections())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	type db struct {
		Driver string `yaml:"driver"`
		DSN    string `yaml:"dsn"`
	}
	src, err := config.Parse("p.yaml", []byte("database:\n  driver: sqlite\n"), []string{"DATABASE_URL=postgres://x/y"})
	if err != nil {
		t.Fatal(err)
	}
	var d db
	if err := src.Decode("database", &d); err != nil {
		t.Fatal(err)
	}
	if d.Driver != "postgres" || d.DSN != "postgres://x/y" {
		t.Fatalf("got %+v", d)
	}
	// A TIPBOX_ variable beats the alias.
	src, _ = config.Parse("p.yaml", nil, []string{"DATABASE_URL=postgres://x/y", "TIPBOX_DATABASE_DRIVER=pgx"})
	_ = src.Decode("database", &d)
	if d.Driver != "pgx" {
		t.Fatalf("got %+v", d)
	}
}

// The log format's default follows env, so it must be computed from the
// decoded env, not from the default env before decoding.
func TestProductionDefaultsToJSONLogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		env  []string
		want string
	}{
		{"env: production\n", nil, "json"},
		{"", []string{"TIPBOX_ENV=production"}, "json"},
		{"env: development\n", nil, "text"},
		{"env: production\nlog:\n  format: text\n", nil, "text"},
	} {
		src, err := config.Parse("p.yaml", []byte(tc.yaml), tc.env)
		if err != nil {
			t.Fatal(err)
		}
		var root config.Root
		if err := src.Decode("", &root); err != nil {
			t.Fatal(err)
		}
		if root.Log.Format != tc.want {
			t.Errorf("%q %v: log.format %q, want %q", tc.yaml, tc.env, root.Log.Format, tc.want)
		}
	}
}

// An environment override must not paper over a section that is not a
// mapping in the profile: the profile is wrong and the error must say so.
func TestEnvDoesNotReplaceMalformedSection(t *testing.T) {
	t.Parallel()
	for _, yaml := range []string{"cache: [1, 2]\n", "cache: redis\n", "cache:\n  warm: 3\n"} {
		src, err := config.Parse("p.yaml", []byte(yaml), []string{"TIPBOX_CACHE_DRIVER=memory", "TIPBOX_CACHE_WARM_COUNT=2"})
		if err != nil {
			t.Fatal(err)
		}
		err = src.Check(sections())
		if err == nil || !strings.Contains(err.Error(), "want a mapping of keys") {
			t.Errorf("%q with env overrides: %v, want an error saying the section is not a mapping", yaml, err)
		}
	}
	// An empty section is not malformed: the override fills it.
	src, _ := config.Parse("p.yaml", []byte("cache:\n"), []string{"TIPBOX_CACHE_DRIVER=redis"})
	var c cacheConfig
	if err := src.Decode("cache", &c); err != nil || c.Driver != "redis" {
		t.Fatalf("empty section: %+v %v", c, err)
	}
}

func TestConfigured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		env  []string
		want bool
	}{
		{"", nil, false},
		{"redis:\n", nil, false},
		{"redis: {}\n", nil, false},
		{"redis:\n  url: redis://h:1/0\n", nil, true},
		{"", []string{"REDIS_URL=redis://h:1/0"}, true},
		{"", []string{"TIPBOX_REDIS_ADDRS=h:1,h:2"}, true},
		{"", []string{"TIPBOX_REDIS_URL="}, false},
		{"", []string{"TIPBOX_REDISX_URL=x"}, false},
	} {
		src, err := config.Parse("p.yaml", []byte(tc.yaml), tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := src.Configured("redis"); got != tc.want {
			t.Errorf("%q %v: Configured = %v", tc.yaml, tc.env, got)
		}
	}
}
