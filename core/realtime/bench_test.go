package realtime_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

func TestMain(m *testing.M) {
	rt.MaybeHoldSockets() // the child side of BenchmarkHeldSockets
	os.Exit(m.Run())
}

// BenchmarkDeliverToFrame: Hub.Deliver → frame read by a client on
// loopback, one at a time.
func BenchmarkDeliverToFrame(b *testing.B) {
	s := rt.StartServer(b, realtime.Config{}, nil, rt.Options{})
	c := s.Connect(b, 1)
	payload := []byte(`{"type":"NEW_BADGE","userId":1,"badgeId":1,"badgeName":"First Post","badgeIcon":"🎯"}`)
	lat := make(rt.Latencies, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		s.Hub.Deliver(realtime.Event{UserID: 1, Payload: payload})
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.Report(b)
}

// BenchmarkHeldSockets holds TIPBOX_BENCH_SOCKETS sockets (default 1000)
// opened by a child process, reports this (server) process's RSS with them
// open, and measures Deliver → frame latency on one more socket meanwhile.
// For the 10,000 (needs `ulimit -n` above 10,100 in both
// processes; Go raises the soft limit to the hard one):
//
//	TIPBOX_BENCH_SOCKETS=10000 go test -run '^$' -bench HeldSockets -benchtime 2000x ./core/realtime/
func BenchmarkHeldSockets(b *testing.B) {
	n := 1000
	if v := os.Getenv("TIPBOX_BENCH_SOCKETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("TIPBOX_BENCH_SOCKETS=%q", v)
		}
	}
	s := rt.StartServer(b, realtime.Config{}, nil, rt.Options{})
	runtime.GC()
	base := rt.RSS()
	const first = 1_000_000
	rt.HoldSockets(b, s.URL, n, first)
	rt.WaitFor(b, time.Minute, func() bool { return s.Hub.Len() == n }, "%d sockets registered (have %d)", n, s.Hub.Len())
	runtime.GC()
	rss := rt.RSS()
	probe := s.Connect(b, 1)
	payload := []byte(`{"type":"NEW_BADGE","userId":1,"badgeId":1,"badgeName":"First Post","badgeIcon":"🎯"}`)
	lat := make(rt.Latencies, 0, b.N)
	i := 0
	for b.Loop() {
		// One event to a held socket (it must not hold up the probe) and
		// one to the probe, whose latency is measured.
		s.Hub.Deliver(realtime.Event{UserID: first + int64(i%n), Payload: payload})
		i++
		start := time.Now()
		s.Hub.Deliver(realtime.Event{UserID: 1, Payload: payload})
		if _, _, err := probe.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "sockets")
	b.ReportMetric(float64(rss)/(1<<20), "MB-rss")
	b.ReportMetric(float64(rss-base)/float64(n)/1024, "KB/socket")
	lat.Report(b)
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "held %d sockets: RSS %.1f MB (%.1f MB before)\n", n, float64(rss)/(1<<20), float64(base)/(1<<20))
	}
}
