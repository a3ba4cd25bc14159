// Package e2e holds the cross-process end-to-end tests: the real cmd/api
// and cmd/worker binaries against real Redis processes, some of which the
// tests kill and restart.
package e2e
