package database

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DefaultDSN is the DSN of the embedded profile: a SQLite file under ./data
// (the sqlite adapter creates the directory).
const DefaultDSN = "file:./data/tipbox.db"

// Config is the "database" config section.
type Config struct {
	// Driver is the registered driver name: "sqlite" or "postgres" built in.
	Driver string `yaml:"driver"`
	// DSN is handed to the driver as is (the sqlite adapter adds its default
	// pragmas to a DSN that lacks them).
	DSN string `yaml:"dsn"`
	// MaxOpenConns, MaxIdleConns, ConnMaxLifetime and ConnMaxIdleTime tune
	// the pool; zero leaves the driver's own default.
	MaxOpenConns    int           `yaml:"max_open_conns"`
	MaxIdleConns    int           `yaml:"max_idle_conns"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	ConnMaxIdleTime time.Duration `yaml:"conn_max_idle_time"`
	// WarmConns is how many connections the pool opens when the application
	// starts (after migrations), each readied by the dialect for the
	// application's statements (see Warmer); 0 opens none until needed.
	// Capped by the pool's limit.
	WarmConns int `yaml:"warm_conns"`
	// AutoMigrate applies pending migrations when the application starts.
	// A pointer so that an explicit false survives SetDefaults; nil means true.
	AutoMigrate *bool `yaml:"auto_migrate"`
}

// SetDefaults fills the embedded profile: SQLite in ./data, migrations on.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "sqlite"
	}
	if c.DSN == "" && c.Driver == "sqlite" {
		c.DSN = DefaultDSN
	}
	if c.AutoMigrate == nil {
		t := true
		c.AutoMigrate = &t
	}
}

// Validate checks what can be checked without the driver registry; Open
// reports a driver name that no adapter registered.
func (c Config) Validate() error {
	var errs []error
	if c.Driver == "" {
		errs = append(errs, errors.New("driver: must not be empty"))
	}
	switch {
	case c.DSN == "" && c.Driver != "" && c.Driver != "sqlite":
		errs = append(errs, fmt.Errorf("dsn: must be set for driver %q (or set DATABASE_URL)", c.Driver))
	case c.DSN == "":
		errs = append(errs, errors.New("dsn: must not be empty"))
	case c.DSN == DefaultDSN && c.Driver != "sqlite":
		// The sqlite default DSN, not one meant for this driver.
		errs = append(errs, fmt.Errorf("dsn: must be set for driver %q (or set DATABASE_URL)", c.Driver))
	}
	if c.MaxOpenConns < 0 {
		errs = append(errs, errors.New("max_open_conns: must not be negative"))
	}
	if c.MaxIdleConns < 0 {
		errs = append(errs, errors.New("max_idle_conns: must not be negative"))
	}
	if c.ConnMaxLifetime < 0 {
		errs = append(errs, errors.New("conn_max_lifetime: must not be negative"))
	}
	if c.ConnMaxIdleTime < 0 {
		errs = append(errs, errors.New("conn_max_idle_time: must not be negative"))
	}
	switch {
	case c.WarmConns < 0:
		errs = append(errs, errors.New("warm_conns: must not be negative"))
	case c.MaxOpenConns > 0 && c.WarmConns > c.MaxOpenConns:
		errs = append(errs, fmt.Errorf("warm_conns: %d is more than max_open_conns (%d)", c.WarmConns, c.MaxOpenConns))
	case c.MaxIdleConns > 0 && c.WarmConns > c.MaxIdleConns:
		// The pool would close the warmed connections beyond its idle limit.
		errs = append(errs, fmt.Errorf("warm_conns: %d is more than max_idle_conns (%d)", c.WarmConns, c.MaxIdleConns))
	}
	return errors.Join(errs...)
}

// MigrateOnStart reports whether pending migrations run on start.
func (c Config) MigrateOnStart() bool { return c.AutoMigrate == nil || *c.AutoMigrate }

// ApplyPool sets the pool limits that are non-zero in c on db.
// Drivers call it after setting their own defaults.
func (c Config) ApplyPool(db *sql.DB) {
	if c.MaxOpenConns > 0 {
		db.SetMaxOpenConns(c.MaxOpenConns)
	}
	if c.MaxIdleConns > 0 {
		db.SetMaxIdleConns(c.MaxIdleConns)
	}
	if c.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(c.ConnMaxLifetime)
	}
	if c.ConnMaxIdleTime > 0 {
		db.SetConnMaxIdleTime(c.ConnMaxIdleTime)
	}
}
