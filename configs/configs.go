// Package configs embeds the configuration profiles, so a built binary runs
// the default profile with no file next to it.
package configs

import "embed"

// Default is the name of the embedded profile used when none is given.
const Default = "default.yaml"

// FS holds the profiles (default.yaml, redis.yaml).
//
//go:embed *.yaml
var FS embed.FS
