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
	sio := len(f) > 3 && f[3] == "socketio"
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
			var c *websocket.Conn
			var err error
			if sio {
				c, err = DialSocketIO(f[0], tok)
			} else {
				d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
				c, _, err = d.Dial(f[0], http.Header{"Authorization": {"Bearer " + tok}})
			}
			if err != nil {
				failed.Do(func() { fmt.Println("error:", err); os.Exit(1) })
				return
			}
			conns[i] = c
			go func() {
				var mu sync.Mutex
				for {
					_, msg, err := c.ReadMessage()
					if err != nil {
						return
					}
					if sio && string(msg) == "2" { // Engine.IO ping
						mu.Lock()
						_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
						mu.Unlock()
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
// The process ends when the benchmark does. proto is "ws" or "socketio"
// (url is then http://host:port/socket.io/).
func HoldSockets(b *testing.B, url string, n int, first int64, proto ...string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %s", HoldEnv, url, n, first, strings.Join(proto, "")))
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

// DialSocketIO opens a minimal Socket.IO client on the websocket transport
// (what socket.io-client does with transports: ["websocket"]): base is
// ws://host:port; it reads the Engine.IO open packet, sends the connect
// with auth {token} and reads the answer. The caller answers pings ("2")
// with "3" and reads events as 42[...] frames.
func DialSocketIO(base, token string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	c, _, err := d.Dial(base+realtime.SocketIOPath+"?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) { _ = c.Close(); return nil, err }
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, msg, err := c.ReadMessage(); err != nil || len(msg) == 0 || msg[0] != '0' {
		return fail(fmt.Errorf("engine.io open: %q %v", msg, err))
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`40{"token":"`+token+`"}`)); err != nil {
		return fail(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), "40{") {
		return fail(fmt.Errorf("socket.io connect: %q %v", msg, err))
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}
