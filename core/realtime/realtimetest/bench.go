package realtimetest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/realtime"
)

// Latencies collects durations and reports percentiles.
type Latencies []time.Duration

// Report sets p50 and p99 (µs) as benchmark metrics.
func (l Latencies) Report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(float64(len(s))*p))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// HoldEnv is the environment variable that turns a test binary into a
// socket holder (see MaybeHoldSockets).
const HoldEnv = "TIPBOX_REALTIME_HOLD"

// MaybeHoldSockets makes a test binary act as the client side of a
// many-sockets benchmark when HoldEnv is set to "URL N FIRSTUSER": it opens
// N sockets to URL (users FIRSTUSER.., tokens signed with the development
// secret), reads and discards frames on each (so pings are answered),
// prints "ready" and holds them until stdin closes, then exits. Call it
// first in TestMain. It returns when HoldEnv is unset.
func MaybeHoldSockets() {
	spec := os.Getenv(HoldEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	n, _ := strconv.Atoi(f[1])
	first, _ := strconv.ParseInt(f[2], 10, 64)
	v, err := auth.NewVerifier(auth.Config{}, false)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var failed sync.Once
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tok, _ := v.Issue(first+int64(i), auth.RoleUser, 24*time.Hour)
			d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
			c, _, err := d.Dial(f[0], http.Header{"Authorization": {"Bearer " + tok}})
			if err != nil {
				failed.Do(func() { fmt.Println("error:", err); os.Exit(1) })
				return
			}
			conns[i] = c
			go func() {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
		})
	}
	wg.Wait()
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the parent closes stdin
	os.Exit(0)
}

// HoldSockets runs this test binary as a socket holder (MaybeHoldSockets)
// with n sockets to url for users first.., and returns once they are open.
// The process ends when the benchmark does.
func HoldSockets(b *testing.B, url string, n int, first int64) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", HoldEnv, url, n, first))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			b.Fatalf("socket holder: %q", l)
		}
	case <-time.After(5 * time.Minute):
		b.Fatal("socket holder not ready within 5 minutes")
	}
}

// RSS returns this process's resident set size in bytes (Linux).
func RSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchPublishToFrame measures publish → frame read on one socket of s,
// one event in flight at a time, and reports p50/p99.
func BenchPublishToFrame(b *testing.B, s *Server, pub realtime.Publisher) {
	c := s.Connect(b, 1)
	payload := []byte(`{"type":"NEW_BADGE","id":"0196b2d4-6a3e-7c1f-9a52-3f0e8c1d2b4a","userId":1,"badgeId":1,` +
		`"badgeName":"First Post","badgeIcon":"🎯","createdAt":"2026-11-27T10:00:00Z"}`)
	ctx := context.Background()
	lat := make(Latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := pub.Publish(ctx, 1, payload); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.Report(b)
}
