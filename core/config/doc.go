// Package config loads Tipbox's YAML profiles and hands each package its own
// typed section.
//
// A profile is one YAML document. Each package owns a section of it (a key
// such as "cache" or "cache.memory") and a struct with yaml tags for that
// section; the struct may implement SetDefaults (pointer receiver) and
// Validate. Provide[T] registers the section with the application and gives
// the decoded, defaulted and validated value to fx. When the application
// starts, Check walks the whole document against every registered section,
// so a key nobody owns, or a value of the wrong type, stops the program with
// an error naming the key.
//
// Every leaf key can be overridden from the environment as
// TIPBOX_<SECTION>_<KEY> in upper case (TIPBOX_CACHE_DRIVER,
// TIPBOX_QUEUE_RETRY_MAX_ATTEMPTS). REDIS_URL and DATABASE_URL are honoured
// as the Node service read them: REDIS_URL sets redis.url, DATABASE_URL sets
// database.dsn and selects the postgres driver. A TIPBOX_ variable is
// stronger than either alias.
//
// A Source is safe for concurrent use.
package config
