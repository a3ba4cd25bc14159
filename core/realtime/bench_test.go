package realtime_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/core/httpserver"
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
// opened by a child process, on /ws and then on Socket.IO (websocket
// transport), reports this (server) process's memory per socket with them
// open (Go heap and stacks in use, which RSS follows but does not give back
// between the two runs), and measures Deliver → frame latency on one more
// /ws socket meanwhile. For the 10,000 (needs `ulimit -n` above
// 10,100 in both processes; Go raises the soft limit to the hard one):
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
	for _, proto := range []string{"ws", "socketio"} {
		b.Run("proto="+proto, func(b *testing.B) {
			// Thousands of handshakes from one address: no rate limit.
			off := 0
			s := rt.StartServer(b, realtime.Config{MaxSockets: n + 10}, nil, rt.Options{RateLimit: httpserver.RateLimitConfig{RPS: &off}})
			base, baseRSS := inUse(), rt.RSS()
			const first = 1_000_000
			url := s.URL
			if proto == "socketio" {
				url = strings.TrimSuffix(s.URL, realtime.Path)
			}
			rt.HoldSockets(b, url, n, first, proto)
			rt.WaitFor(b, time.Minute, func() bool { return s.Hub.Connections(first+int64(n)-1) == 1 && s.Hub.Len() == n }, "%d sockets registered (have %d)", n, s.Hub.Len())
			held, rss := inUse(), rt.RSS()
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
			b.ReportMetric(float64(held-base)/float64(n)/1024, "KB/socket")
			lat.Report(b)
			if testing.Verbose() {
				fmt.Fprintf(os.Stderr, "%s: held %d sockets: heap+stacks +%.1f MB, RSS %.1f MB (%.1f MB before)\n", proto, n,
					float64(held-base)/(1<<20), float64(rss)/(1<<20), float64(baseRSS)/(1<<20))
			}
		})
	}
}

// inUse is the Go heap and goroutine stacks in use, after a collection.
func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// BenchmarkSocketIOVersusWS: publish (through the Publisher and a bus) →
// frame read, alternating a /ws socket and a Socket.IO client on the
// websocket transport in the same run; reports both p99s and their ratio.
func BenchmarkSocketIOVersusWS(b *testing.B) {
	bus := &localBus{subs: map[*func(realtime.Event)]bool{}}
	s := rt.StartServer(b, realtime.Config{}, bus, rt.Options{})
	pub := realtime.NewPublisher(bus)
	ws := s.Connect(b, 1)
	sio, err := rt.DialSocketIO(strings.TrimSuffix(s.URL, realtime.Path), s.Token(b, 2))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sio.Close() })
	rt.WaitFor(b, 5*time.Second, func() bool { return s.Hub.Connections(2) == 1 }, "socket.io client joined")
	payload := []byte(`{"type":"NEW_BADGE","id":"123456","userId":1,"badgeId":1,"badgeName":"First Post","badgeIcon":"🎯","createdAt":"2026-11-27T10:00:00Z"}`)
	ctx := context.Background()
	latWS := make(rt.Latencies, 0, b.N)
	latSIO := make(rt.Latencies, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if err := pub.Publish(ctx, 1, payload); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		latWS = append(latWS, time.Since(start))
		start = time.Now()
		if err := pub.Publish(ctx, 2, payload); err != nil {
			b.Fatal(err)
		}
		for {
			_, msg, err := sio.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if len(msg) > 2 && msg[0] == '4' && msg[1] == '2' {
				break
			}
			if string(msg) == "2" {
				_ = sio.WriteMessage(websocket.TextMessage, []byte("3"))
			}
		}
		latSIO = append(latSIO, time.Since(start))
	}
	b.StopTimer()
	p99 := func(l rt.Latencies) float64 {
		sl := slices.Clone(l)
		slices.Sort(sl)
		return float64(sl[min(len(sl)-1, len(sl)*99/100)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(p99(latWS), "ws-p99-µs")
	b.ReportMetric(p99(latSIO), "sio-p99-µs")
	b.ReportMetric(p99(latSIO)/p99(latWS), "p99-ratio")
}
