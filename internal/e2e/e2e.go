// Package e2e builds the real programs and runs them as processes, for
// end-to-end tests that talk HTTP to them like a client would.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
func Start(t testing.TB, dir, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
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
// waits until /readyz answers 200.
func StartAPI(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env = append([]string{"TIPBOX_HTTP_ADDR=" + addr}, env...)
	p := Start(t, t.TempDir(), Binary(t, "api"), env, args...)
	p.BaseURL = "http://" + addr
	p.WaitReady(15 * time.Second)
	return p
}

// WaitReady polls /readyz until 200.
func (p *Proc) WaitReady(timeout time.Duration) {
	p.t.Helper()
	testenv.Eventually(p.t, timeout, func() bool {
		if p.Exited() {
			p.t.Fatalf("process exited early:\n%s", p.Output())
		}
		resp, err := http.Get(p.BaseURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "%s/readyz did not answer 200", p.BaseURL)
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
