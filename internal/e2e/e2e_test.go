package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/testenv"
)

// The test binary doubles as a server that answers /readyz a while before
// it installs its SIGINT handler (lateHandler).
func TestMain(m *testing.M) {
	if os.Getenv("E2E_TEST_LATE_HANDLER") != "" {
		lateHandler()
		return
	}
	os.Exit(m.Run())
}

// lateHandler listens on a free port, prints "listening on ADDR", answers
// 200 to every request, and only 300 ms later asks for SIGINT, on which it
// exits 0: a program whose listener is up before app.Run has reached
// signal.Notify, the interval in which an interrupt kills it.
func lateHandler() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) }()
	fmt.Println("listening on " + ln.Addr().String())
	time.Sleep(300 * time.Millisecond)
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	<-c
	os.Exit(0)
}

// A ready process is one that an interrupt stops the way its program
// says, not one that merely answers /readyz: WaitReady waits for the
// SIGINT handler too (CI: TestProductionLogsAreJSON's API exited -1).
func TestWaitReadyWaitsForTheSignalHandler(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, t.TempDir(), self, []string{"E2E_TEST_LATE_HANDLER=1"})
	var addr string
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, addr, _ = strings.Cut(strings.TrimSpace(p.Output()), "listening on ")
		return addr != ""
	}, "no listening line: %s", testenv.Later(func() any { return p.Output() }))
	p.BaseURL = "http://" + addr
	p.WaitReady(10 * time.Second)
	p.Signal(os.Interrupt)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT (-1: killed by it, before the program asked for it)\n%s", code, p.Output())
	}
}

// The port testenv.FreePort returns may be bound by another test's server
// before the api binds it; that server's /readyz says nothing about this
// api, which is failing to start. StartAPI must not take it for the api's
// and must end up with a running api of its own.
func TestStartAPIOnATakenPort(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	taken := other.Listener.Addr().(*net.TCPAddr).Port
	calls := 0
	ports := func(t testing.TB) int {
		if calls++; calls == 1 {
			return taken
		}
		return testenv.FreePort(t)
	}
	api := startAPI(t, ports, nil)
	if api.BaseURL == other.URL {
		t.Fatalf("StartAPI took %s/readyz, answered by another server, for the api's", other.URL)
	}
	r := Do(t, "GET", api.BaseURL+"/readyz", "", "")
	var report map[string]string
	if err := json.Unmarshal(r.Body, &report); r.Status != 200 || err != nil || report["database"] != "up" {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}
	api.Signal(os.Interrupt)
	if code := api.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT\n%s", code, api.Output())
	}
}
