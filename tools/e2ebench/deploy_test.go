package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A program's output goes to its log file as well as to memory, and the
// file is complete once the program has exited.
func TestStartWritesTheProgramsOutputToItsLog(t *testing.T) {
	dir := t.TempDir()
	log := logFile(dir, "redis", "api")
	if log != filepath.Join(dir, "redis-api.log") {
		t.Fatalf("log file %q", log)
	}
	p, err := start("api", dir, "/bin/sh", log, nil, "-c", "echo out; echo err >&2")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not exit")
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"out\n", "err\n"} {
		if !strings.Contains(string(got), want) || !strings.Contains(p.out.String(), want) {
			t.Fatalf("file %q, memory %q: want %q in both", got, p.out.String(), want)
		}
	}
	if logFile("", "redis", "api") != "" {
		t.Fatal("a log file without -logs")
	}
}
