// Package e2e builds the real programs and runs them as processes, for
// end-to-end tests that talk HTTP to them like a client would.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/testenv"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binary returns the path of a freshly built program ("api" or "worker"),
// built once per test process.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tipbox-e2e-bin-*")
		if buildErr != nil {
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		for _, p := range []string{"api", "worker"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, p), "./cmd/"+p)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build ./cmd/%s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// Proc is a running program.
type Proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error
	// BaseURL is http://addr of its HTTP server (empty if none was given).
	BaseURL string
}

// Start runs bin with args and env (added to the test's environment) in dir.
// The process is killed at cleanup if still running.
//
// The program starts with SIGINT ignored (sh ignores it, then execs bin in
// the same process): a Go program that inherits an ignored SIGINT installs
// a handler for it only when it calls signal.Notify for it, so /proc shows
// when it has (WaitReady), and an interrupt sent earlier is lost rather
// than fatal.
func Start(t testing.TB, dir, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `trap '' INT && exec "$0" "$@"`, bin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &Proc{t: t, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), out.String())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the exit and returns the exit code.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %s\n%s", timeout, p.Output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartAPI runs the api binary serving on a free loopback port with a
// fresh working directory (so the SQLite file is the test's own), and
// waits until it is ready (WaitReady).
func StartAPI(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	return startAPI(t, testenv.FreePort, env, args...)
}

// apiAttempts is how many ports startAPI tries: a port testenv.FreePort
// found free may be bound by another test's process before the api binds it.
const apiAttempts = 3

func startAPI(t testing.TB, freePort func(testing.TB) int, env []string, args ...string) *Proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := Start(t, t.TempDir(), Binary(t, "api"), append([]string{"TIPBOX_HTTP_ADDR=" + addr}, env...), args...)
		p.BaseURL = "http://" + addr
		err := p.waitReady(15 * time.Second)
		if err == nil {
			return p
		}
		if attempt < apiAttempts && p.Exited() && strings.Contains(p.Output(), "cannot listen on "+addr+": ") &&
			strings.Contains(p.Output(), "address already in use") {
			t.Logf("%s was taken before the api bound it; another port", addr)
			continue
		}
		t.Fatal(err)
	}
}

// WaitReady waits until the process is ready: /readyz at BaseURL answers
// 200 from the process itself, and the process has installed its SIGINT
// handler, so that a test may interrupt it and expect a graceful stop.
// It fails the test if the process exits first.
//
// /readyz alone proves neither. The port may be another process's (a port
// from testenv.FreePort can be taken by another test's server before this
// process binds it, and this one is then on its way out), hence the
// check that the listening socket is this process's own. And an interrupt
// stops a program gracefully only once it has asked for SIGINT: app.Run
// asks before its start hooks run, but a program with a main of its own
// may listen first, so the handler is checked too.
func (p *Proc) WaitReady(timeout time.Duration) {
	p.t.Helper()
	if err := p.waitReady(timeout); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Proc) waitReady(timeout time.Duration) error {
	u, err := url.Parse(p.BaseURL)
	if err != nil {
		return fmt.Errorf("BaseURL %q: %v", p.BaseURL, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("BaseURL %q has no port", p.BaseURL)
	}
	pid := p.PID()
	deadline := time.Now().Add(timeout)
	var listening, handler bool
	last := "not asked"
	for {
		// In this order: once the process holds the port, the answer is its
		// own unless it has exited meanwhile, which is checked last.
		listening = listensOn(pid, port)
		handler = listening && catchesInterrupt(pid)
		if handler {
			resp, err := http.Get(p.BaseURL + "/readyz")
			if err != nil {
				last = err.Error()
			} else {
				resp.Body.Close()
				last = resp.Status
				if resp.StatusCode == http.StatusOK && !p.Exited() {
					return nil
				}
			}
		}
		if p.Exited() {
			return fmt.Errorf("process exited early (code %d):\n%s", p.cmd.ProcessState.ExitCode(), p.Output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: listening on its port %v, SIGINT handler installed %v, /readyz %s\n%s",
				p.BaseURL, timeout, listening, handler, last, p.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listensOn reports whether one of pid's open file descriptors is a TCP
// socket listening on port (Linux /proc).
func listensOn(pid, port int) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	own := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			own[strings.TrimSuffix(inode, "]")] = true
		}
	}
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		// sl local_address rem_address st ... inode: the state of a
		// listening socket is 0A, the port is hexadecimal.
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !own[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if n, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(n) == port {
				return true
			}
		}
	}
	return false
}

// catchesInterrupt reports whether pid has a handler installed for SIGINT
// (SigCgt in /proc/PID/status).
func catchesInterrupt(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err == nil && m&(1<<(syscall.SIGINT-1)) != 0
		}
	}
	return false
}

// Token runs `api token` and returns the JWT.
func Token(t testing.TB, userID int64, role string, env ...string) string {
	t.Helper()
	args := []string{"token", "--user", fmt.Sprint(userID)}
	if role != "" {
		args = append(args, "--role", role)
	}
	cmd := exec.Command(Binary(t, "api"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("api token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Response is a read HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request with an optional bearer token and body.
func Do(t testing.TB, method, url, token string, body string) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// LastLine returns the last non-empty line of s.
func LastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}
