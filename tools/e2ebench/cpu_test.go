package main

import (
	"os"
	"testing"
	"time"
)

// procCPU reads this process's CPU time, which grows while it works.
func TestProcCPU(t *testing.T) {
	before, ok := procCPU(os.Getpid())
	if !ok {
		t.Fatal("no CPU time read from /proc for this process")
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, _ := procCPU(os.Getpid())
	if after < before+20*time.Millisecond {
		t.Fatalf("CPU time %s then %s after 50 ms of work", before, after)
	}
	if _, ok := procCPU(-1); ok {
		t.Fatal("read CPU time of no process")
	}
}

// since divides each part's use by the units of work; a backend that
// started in between counts from zero.
func TestCPUSince(t *testing.T) {
	start := cpuUse{named: map[string]time.Duration{"api": time.Second, "redis": 0},
		backends: map[int]time.Duration{10: time.Second}}
	end := cpuUse{named: map[string]time.Duration{"api": 3 * time.Second, "redis": time.Second},
		backends: map[int]time.Duration{10: 2 * time.Second, 11: time.Second}}
	got := end.since(start, 1000)
	want := map[string]time.Duration{"api": 2 * time.Millisecond, "redis": time.Millisecond, "postgres": 2 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if s := formatCPU(got); s != "api 2.00, postgres 2.00, redis 1.00 ms (total 5.00 ms)" {
		t.Fatalf("formatCPU: %q", s)
	}
}
