// Package migrations holds the user module's schema, one directory per
// database dialect. The module registers it with
// database.AsMigrations("user", migrations.FS).
package migrations

import "embed"

// FS holds sqlite/NNN_*.sql and postgres/NNN_*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
