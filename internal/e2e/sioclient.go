package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/testenv"
)

// SIOEvent is one line the socket.io-client script printed.
type SIOEvent struct {
	Ev          string          `json:"ev"`
	ID          json.RawMessage `json:"id"`
	Recovered   bool            `json:"recovered"`
	Transport   string          `json:"transport"`
	Data        json.RawMessage `json:"data"`
	Offset      *string         `json:"offset"`
	Message     string          `json:"message"`
	Reason      string          `json:"reason"`
	Description *string         `json:"description"`
	Error       *string         `json:"error"`
}

// SIOClient is the real socket.io-client (npm, pinned in
// tests/socketio/client) running in Node, driven through stdin/stdout.
type SIOClient struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan SIOEvent
	done   chan struct{}

	mu  sync.Mutex
	log []string
}

// SIOOptions configure the client (see tests/socketio/client/client.mjs).
type SIOOptions struct {
	URL        string         `json:"url"`
	Auth       map[string]any `json:"auth,omitempty"`
	Transports []string       `json:"transports,omitempty"`
	Event      string         `json:"event,omitempty"`
	// Query and ExtraHeaders go with every request (the handshake's
	// ?token= and Authorization: Bearer); Namespace is appended to URL.
	Query        map[string]string `json:"query,omitempty"`
	ExtraHeaders map[string]string `json:"extraHeaders,omitempty"`
	Namespace    string            `json:"namespace,omitempty"`
}

// ClientDir is the folder of the Node client and its package.json.
func ClientDir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "tests", "socketio", "client")
}

// StartSIO starts the client. Without node or without the installed
// packages (`npm ci` in tests/socketio/client, which .ci/run does) the
// test is skipped, or fails under CI.
func StartSIO(t testing.TB, opts SIOOptions) *SIOClient {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Unavailable(t, "node is not installed")
	}
	dir := ClientDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); err != nil {
		testenv.Unavailable(t, "socket.io-client is not installed: run `npm ci` in %s", dir)
	}
	arg, _ := json.Marshal(opts)
	cmd := exec.Command(node, "client.mjs", string(arg))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &SIOClient{t: t, cmd: cmd, stdin: stdin, events: make(chan SIOEvent, 4096), done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { c.note("stderr: " + string(p)); return len(p), nil })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.note(sc.Text())
			var e SIOEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				c.events <- e
			}
		}
		close(c.events)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("socket.io-client transcript:\n%s", c.Transcript())
		}
	})
	return c
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (c *SIOClient) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.log) < 2000 {
		c.log = append(c.log, s)
	}
}

// Transcript is everything the client printed so far.
func (c *SIOClient) Transcript() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ""
	for _, l := range c.log {
		out += l + "\n"
	}
	return out
}

// Send writes a command line.
func (c *SIOClient) Send(cmd map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("socket.io-client: send %s: %v", b, err)
	}
}

// Next returns the next event within timeout, failing the test otherwise.
func (c *SIOClient) Next(timeout time.Duration) SIOEvent {
	c.t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			c.t.Fatalf("socket.io-client exited")
		}
		return e
	case <-time.After(timeout):
		c.t.Fatalf("socket.io-client: nothing within %s", timeout)
		return SIOEvent{}
	}
}

// Until returns the first event named ev within timeout, with the events
// skipped before it.
func (c *SIOClient) Until(ev string, timeout time.Duration) (SIOEvent, []SIOEvent) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var skipped []SIOEvent
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("socket.io-client: no %q within %s (skipped %d)", ev, timeout, len(skipped))
		}
		e := c.Next(left)
		if e.Ev == ev {
			return e, skipped
		}
		skipped = append(skipped, e)
	}
}

// Quiet fails if an event other than those allowed arrives within d.
func (c *SIOClient) Quiet(d time.Duration, allowed ...string) {
	c.t.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return
			}
			ok = false
			for _, a := range allowed {
				ok = ok || e.Ev == a
			}
			if !ok {
				c.t.Fatalf("socket.io-client: unexpected %+v (data %s)", e, e.Data)
			}
		case <-t.C:
			return
		}
	}
}

// Exited reports whether the Node process ended.
func (c *SIOClient) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
