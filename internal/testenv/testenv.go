// Package testenv gives tests real services: the shared Redis and
// PostgreSQL of the development machine, and throwaway redis-server
// processes or clusters that a test may kill at will.
//
// Under CI (CI=true) a missing service fails the test; elsewhere it skips,
// so a laptop without PostgreSQL still runs the rest of the suite.
package testenv

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI, where a missing service is a
// failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable fails the test under CI and skips it elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("required service unavailable under CI: %s", msg)
	}
	t.Skipf("service unavailable (set CI=true to make this fatal): %s", msg)
}

var prefixSeq atomic.Int64

// Prefix returns a key prefix unique to this test and process, ending in ':'.
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(t.Name())
	return fmt.Sprintf("test:%s:%d:%d:", name, os.Getpid(), prefixSeq.Add(1))
}

// Eventually polls cond every 5 ms until it returns true or the timeout
// passes, then fails the test with the message.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgf string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, fmt.Sprintf(msgf, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Later is a message argument evaluated when it is printed, not when it
// is passed: Eventually(t, d, cond, "stuck: %+v", Later(func() any { return
// stats() })) shows the state at the deadline, not at the start.
type Later func() any

// Format prints what the function returns, with the verb it was given.
func (l Later) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), l()) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may bind it before the caller's does (e2e.StartAPI
// tries another port then).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitReachable(addr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if reachable(addr) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
