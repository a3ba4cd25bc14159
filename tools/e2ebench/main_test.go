package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/testenv"
)

// The tool still runs end to end: tiny counts on every profile, no timing
// asserted (the figures are the benchmark's, not a test's).
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the programs; skipped with -short")
	}
	redisURL := "redis://" + testenv.RedisAddr(t) + "/0"
	db, err := sql.Open("pgx", testenv.PostgresAdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "postgres: %v", err)
	}
	db.Close()
	o, err := parseFlags([]string{
		"-profiles", "embedded,redis,tiered", "-users", "4",
		"-read-seconds", "0.2", "-read-rounds", "1", "-read-conns", "2",
		"-events", "40", "-event-conns", "4",
		"-push-rates", "20", "-push-seconds", "0.5",
		"-step-rates", "20,40", "-warm-grants", "5", "-step-seconds", "0.5", "-step-p99", "10s",
		"-redis", redisURL, "-postgres", testenv.PostgresAdminDSN, "-settle", "10s",
	})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{
		"| embedded | cached profile GET vs /healthz |", "| redis | analytics: last 202 → all counted |",
		"| redis | grant → frame at 20 grants/s |", "| embedded | highest sustained notifications/s",
		"| tiered | cached profile GET vs /healthz |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "| tiered | analytics") {
		t.Error("tiered measures reads only")
	}
}
