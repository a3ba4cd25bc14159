// Package migrations holds the gamification module's schema, one
// directory per dialect.
package migrations

import "embed"

// FS holds sqlite/NNN_*.sql and postgres/NNN_*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
