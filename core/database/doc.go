// Package database is the storage port: a *sql.DB plus the few facts about
// the SQL dialect that portable code needs, a registry of drivers contributed
// by adapters, and per-module embedded migrations.
//
// Core names no driver. An adapter (adapters/database/sqlite,
// adapters/database/postgres, or a third party's) contributes a Driver to the
// fx value group "database.drivers" with AsDriver; Open picks one by the
// configured name. A module contributes its schema with AsMigrations and
// Migrate applies it on start.
//
// # Portable SQL
//
// Queries are written once for every driver: placeholders are $1, $2, ...
// (modernc.org/sqlite binds $N by ordinal), INSERT/UPDATE ... RETURNING works
// on both built-in drivers, and what differs is asked of the Dialect:
// ForUpdate for row locks, IsUniqueViolation to tell which unique constraint
// a write hit. Migrations are the one place with per-dialect SQL (a sqlite/
// and a postgres/ directory per module).
//
// Timestamps are stored as BIGINT microseconds since the Unix epoch, UTC
// (time.Time.UnixMicro / time.UnixMicro(v).UTC()). Both databases round-trip
// that exactly, compare and sort it as an integer, and no driver-specific
// time conversion is involved; the Go side truncates to microseconds.
package database
