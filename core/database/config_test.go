package database_test

import (
	"strings"
	"testing"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
)

func decode(t *testing.T, yaml string, env ...string) (database.Config, error) {
	t.Helper()
	src, err := config.Parse("test.yaml", []byte(yaml), env)
	if err != nil {
		t.Fatal(err)
	}
	var c database.Config
	err = src.Decode("database", &c)
	return c, err
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := decode(t, "{}")
	if err != nil {
		t.Fatal(err)
	}
	if c.Driver != "sqlite" || c.DSN != database.DefaultDSN || !c.MigrateOnStart() {
		t.Errorf("defaults = %+v", c)
	}
}

func TestConfigAutoMigrateFalseSurvivesDefaults(t *testing.T) {
	t.Parallel()
	c, err := decode(t, "database:\n  auto_migrate: false\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.MigrateOnStart() {
		t.Error("auto_migrate: false was overwritten by the default")
	}
	c, err = decode(t, "{}", "TIPBOX_DATABASE_AUTO_MIGRATE=false")
	if err != nil {
		t.Fatal(err)
	}
	if c.MigrateOnStart() {
		t.Error("TIPBOX_DATABASE_AUTO_MIGRATE=false ignored")
	}
}

func TestConfigDatabaseURL(t *testing.T) {
	t.Parallel()
	c, err := decode(t, "{}", "DATABASE_URL=postgres://u@h/db")
	if err != nil {
		t.Fatal(err)
	}
	if c.Driver != "postgres" || c.DSN != "postgres://u@h/db" {
		t.Errorf("config = %+v", c)
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"database:\n  driver: postgres\n", "database.dsn: must be set for driver \"postgres\""},
		{"database:\n  max_open_conns: -1\n", "database.max_open_conns"},
		{"database:\n  conn_max_lifetime: -1s\n", "database.conn_max_lifetime"},
	} {
		_, err := decode(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	if err := (database.Config{DSN: "x"}).Validate(); err == nil || !strings.Contains(err.Error(), "driver:") {
		t.Errorf("empty driver: err = %v", err)
	}
}
