// Package migrations holds the PostgreSQL queue driver's schema (schema
// tipbox_queue), applied with the application's migrations when
// queue.driver is postgres.
package migrations

import "embed"

// FS holds postgres/NNN_*.sql.
//
//go:embed postgres/*.sql
var FS embed.FS
