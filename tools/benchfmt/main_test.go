package main

import (
	"strings"
	"testing"
)

func TestTables(t *testing.T) {
	in := `goos: linux
cpu: AMD EPYC
pkg: example.com/a
BenchmarkX-2   	 100	 20713 ns/op	 3748 p99-µs	 48278 req/s
BenchmarkY/sub-2   	 100	 10 ns/op
BenchmarkZ-2   	2026/11/27 11:36:32 redis: pool.go:770: connection failed
PASS
`
	var out strings.Builder
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := "| X-2 | 20713 | 3748 | 48278 |\n| Y/sub-2 | 10 |  |  |\n"
	if !strings.Contains(out.String(), "| benchmark | ns/op | p99-µs | req/s |") || !strings.Contains(out.String(), want) {
		t.Fatalf("got:\n%s", out.String())
	}
}
