// Package bench holds the application-level benchmarks: HTTP requests per
// second of real Tipbox apps (in process, on loopback) for each cache
// driver and database. `make bench` runs them and prints tables.
package bench
