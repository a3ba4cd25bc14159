package app_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/app"
)

// runChildEnv makes the test binary act as a program whose start hook
// blocks until its stdin closes (see TestSignalDuringStartStopsGracefully).
const runChildEnv = "TIPBOX_APP_RUN_CHILD"

// TestMain lets the test binary play the child program.
func TestMain(m *testing.M) {
	if os.Getenv(runChildEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild starts an application whose start hook prints "starting" and
// waits for stdin to close, and whose stop hook prints "stopped".
func runChild() int {
	a := fx.New(fx.NopLogger, fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				fmt.Println("starting")
				_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
				return nil
			},
			OnStop: func(context.Context) error {
				fmt.Println("stopped")
				return nil
			},
		})
	}))
	if err := app.Run(a); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// A SIGTERM that arrives while the start hooks run (a deploy that replaces
// a pod still starting) is neither fatal nor lost: the program finishes
// starting, then stops gracefully and exits 0.
func TestSignalDuringStartStopsGracefully(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				return "(closed)"
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("the child printed nothing for 10 s")
			return ""
		}
	}
	if l := next(); l != "starting" {
		t.Fatalf("first line %q, want starting", l)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The signal is delivered asynchronously; the start hook goes on until
	// stdin closes. Give the kernel a moment to deliver it before the hook
	// returns, by waiting until the child's signal mask shows it handled
	// (SigCgt has SIGTERM) or it died.
	waitSignalSeen(t, cmd.Process.Pid)
	_ = stdin.Close()
	var out []string
	for l := next(); l != "(closed)"; l = next() {
		out = append(out, l)
	}
	err = cmd.Wait()
	if err != nil || !slices.Contains(out, "stopped") {
		t.Fatalf("after SIGTERM during start: exit %v, output %q; want exit 0 and the stop hook run", err, out)
	}
}

// waitSignalSeen waits until the child has no SIGTERM pending (delivered
// and handled, or it died), at most 5 s.
func waitSignalSeen(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return // exited
		}
		pending := false
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok && strings.TrimSpace(v) != "0000000000000000" {
				pending = true
			}
			if v, ok := strings.CutPrefix(line, "State:"); ok && strings.Contains(v, "zombie") {
				return
			}
		}
		if !pending {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
