// Package migrations holds the kudos module's schema, one directory per
// database dialect (the module's Spec.Migrations).
package migrations

import "embed"

// FS holds sqlite/NNN_*.sql and postgres/NNN_*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
