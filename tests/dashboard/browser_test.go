// Package dashboard_test drives the queue dashboard of the real API
// program in a real browser: Debian's chromium, headless, through the
// DevTools protocol (chromedp). Nothing is downloaded at test time.
package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

const testQueue = "dashtest"

// server is the API program running in this process.
type server struct {
	base          string
	enq           queue.Enqueuer
	admin         *queue.Admin
	adminTok, vTk string
	logs          *testenv.Buffer
	// failing makes the "flaky" jobs fail for good while set.
	failing atomic.Bool
}

// startAPI runs tipbox.API() for the profile ("" is the embedded one)
// with extra env, plus a test
// queue whose "flaky" jobs fail while s.failing is set and whose
// "showcase" jobs log, report progress and fail.
func startAPI(t testing.TB, profile string, extra ...string) *server {
	t.Helper()
	env := append([]string{
		"TIPBOX_HTTP_ADDR=127.0.0.1:0", "TIPBOX_HTTP_RATE_LIMIT_RPS=0",
		"TIPBOX_DATABASE_DSN=file:" + filepath.Join(t.TempDir(), "t.db"),
		"TIPBOX_QUEUE_QUEUES=notifications,analytics,emails,push," + testQueue,
		"TIPBOX_QUEUE_RETENTION_COMPLETED=5000",
	}, extra...)
	src, err := app.LoadProfile(profile, configs.FS, configs.Default, env)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := tipbox.API().Options(src)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{logs: &testenv.Buffer{}}
	var srv *httpserver.Server
	var v *auth.Verifier
	handler := func(ctx context.Context, j *queue.Job) error {
		switch j.Name {
		case "flaky":
			if s.failing.Load() {
				return queue.Permanent(errors.New("flaky: upstream answered 502"))
			}
		case "showcase":
			_ = j.Log(ctx, "fetched %d rows", 120)
			_ = j.Progress(ctx, 60)
			_ = j.Log(ctx, "rendering the report")
			return queue.Permanent(errors.New("render: template \"weekly\" not found\n    at report.Render (report.go:88)\n    at worker.Run (worker.go:41)"))
		}
		return nil
	}
	opts = append(opts, fx.NopLogger,
		fx.Decorate(func() *slog.Logger { return slog.New(slog.NewJSONHandler(s.logs, nil)) }),
		queue.AsHandler(func() queue.Handler { return queue.Handler{Queue: testQueue, Handle: handler} }),
		fx.Populate(&srv, &s.enq, &s.admin, &v))
	a, err := app.New(src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	s.base = "http://" + srv.Addr().String()
	if s.adminTok, err = v.Issue(1, auth.RoleAdmin, time.Hour); err != nil {
		t.Fatal(err)
	}
	if s.vTk, err = v.Issue(2, auth.RoleViewer, time.Hour); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *server) enqueue(t testing.TB, name string, payload any) string {
	t.Helper()
	id, err := s.enq.Enqueue(context.Background(), testQueue, name, payload)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// post sends an admin POST to the API and returns the status.
func (s *server) post(t *testing.T, path string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *server) waitState(t testing.TB, id string, st queue.State) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool {
		j, err := s.admin.Job(context.Background(), testQueue, id)
		return err == nil && j.State == st
	}, "job %s did not reach %s", id, st)
}

// chromium finds the system browser: missing, it fails the test under CI
// and skips it elsewhere.
func chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TIPBOX_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	testenv.Unavailable(t, "no chromium binary (install Debian's package: apt-get install -y chromium, or set TIPBOX_CHROMIUM)")
	return ""
}

// browser is a headless chromium; errs collects the console errors and
// uncaught exceptions of every tab it opened.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// tab opens a new tab (with its own sessionStorage) whose console errors
// are collected. Network errors are left out: they are the test's own
// forged requests, answered 403 on purpose.
func (b *browser) tab(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && m.Source != "network" {
				b.mu.Lock()
				b.errs = append(b.errs, string(m.Type)+": "+m.Text+" ("+m.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	return ctx
}

func run(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		shown, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`location.hash + "\n" + document.body.innerText`))
		t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, shown)
	}
}

func eval[T any](t testing.TB, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

func signIn(base, token, hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/admin"+hash),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		// Keyboard only: type the token and press Enter.
		chromedp.SendKeys(chromedp.CSS("#token"), token+"\r"),
		chromedp.WaitVisible(chromedp.CSS("#signout")),
	)
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func row(id string) string { return fmt.Sprintf(`tr[data-id=%q]`, id) }

// shots is where screenshots go: TIPBOX_DASHBOARD_SCREENSHOTS (e.g.
// docs/img, to refresh the committed ones) or the test's temp dir.
func shots(t *testing.T) string {
	if d := os.Getenv("TIPBOX_DASHBOARD_SCREENSHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

// step runs a subtest and stops the test when it fails: each step builds
// on the page the previous one left.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	b := newBrowser(t)
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(b.errs, "\n"))
		}
	})
	s := startAPI(t, "")
	word := fmt.Sprintf("pelican%d", rand.IntN(1_000_000))

	// A job that fails, made by the test.
	s.failing.Store(true)
	failed := s.enqueue(t, "flaky", map[string]any{"report": "weekly", "note": "made by " + word})
	s.waitState(t, failed, queue.StateFailed)
	showcase := s.enqueue(t, "showcase", map[string]any{"report": "weekly", "format": "pdf", "recipients": []string{"ops@example.com"}})
	s.waitState(t, showcase, queue.StateFailed)
	for i := range 20 {
		s.waitState(t, s.enqueue(t, "export", map[string]any{"n": i, "kind": "other"}), queue.StateCompleted)
	}

	dir := shots(t)
	admin := b.tab(t)
	step(t, "admin retries a failed job and its row moves to completed live", func(t *testing.T) {
		run(t, admin, "sign in as admin", signIn(s.base, s.adminTok, "#/q/"+testQueue+"/failed"),
			chromedp.WaitVisible(css(row(failed))))
		s.failing.Store(false)
		eval[bool](t, admin, `window.__noReload = true`)
		run(t, admin, "retry",
			chromedp.Click(css(row(failed)+` button[data-act="retry"]`)),
			chromedp.WaitVisible(css(row(failed)+` [data-state="completed"]`)))
		if !eval[bool](t, admin, `window.__noReload === true`) {
			t.Fatal("the page reloaded")
		}
		testenv.Eventually(t, 3*time.Second, func() bool {
			return strings.Contains(s.logs.String(), `"actor":"user:1","role":"admin","action":"queue.job.retry","target":"queue:`+testQueue+`/`+failed+`"`)
		}, "no audit line with who retried")
	})

	step(t, "a paused stream resumes with what it missed", func(t *testing.T) {
		s.failing.Store(true)
		run(t, admin, "failed jobs", chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/failed"), chromedp.WaitVisible(css(`#live.on`)))
		// The row of a job that fails now arrives live.
		missed := s.enqueue(t, "flaky", map[string]string{"note": "missed while paused"})
		run(t, admin, "live row", chromedp.WaitVisible(css(row(missed)+` [data-state="failed"]`)), chromedp.Click(css(`#live`)),
			chromedp.WaitVisible(css(`#live.paused`)))
		s.failing.Store(false)
		if status := s.post(t, "/api/v1/admin/queues/"+testQueue+"/jobs/"+missed+"/retry"); status != 202 {
			t.Fatalf("retry: %d", status)
		}
		s.waitState(t, missed, queue.StateCompleted)
		if eval[bool](t, admin, `!!document.querySelector('`+row(missed)+` [data-state="completed"]')`) {
			t.Fatal("the page updated while paused")
		}
		run(t, admin, "resume", chromedp.Click(css(`#live`)), chromedp.WaitVisible(css(row(missed)+` [data-state="completed"]`)))
	})

	step(t, "removing asks first", func(t *testing.T) {
		s.failing.Store(true)
		doomed := s.enqueue(t, "flaky", map[string]string{"note": "to be removed"})
		s.waitState(t, doomed, queue.StateFailed)
		run(t, admin, "cancel the removal", chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/failed"),
			chromedp.WaitVisible(css(row(doomed))),
			chromedp.Click(css(row(doomed)+` button[data-act="remove"]`)),
			chromedp.WaitVisible(css(`#confirm[open]`)),
			// Keyboard: Escape closes the dialog, as Cancel does.
			chromedp.KeyEvent("\x1b"),
			chromedp.WaitNotPresent(css(`#confirm[open]`)))
		if _, err := s.admin.Job(context.Background(), testQueue, doomed); err != nil {
			t.Fatalf("the job went without confirmation: %v", err)
		}
		// A dialog's close event comes a task after it closes: a question
		// asked before the last answer's event arrived (a quick user, or a
		// busy browser) must still get its own answer, not that stale one.
		run(t, admin, "ask again before the last close event arrived",
			chromedp.Click(css(row(doomed)+` button[data-act="remove"]`)),
			chromedp.WaitVisible(css(`#confirm[open]`)))
		eval[bool](t, admin, `document.querySelector("#confirm").close();
			document.querySelector('`+row(doomed)+` button[data-act="remove"]').click();
			document.querySelector("#confirm").open`)
		run(t, admin, "confirm the removal",
			chromedp.WaitVisible(css(`#confirm[open]`)),
			chromedp.Click(css(`#confirm-ok`)),
			chromedp.WaitNotPresent(css(row(doomed))))
		if _, err := s.admin.Job(context.Background(), testQueue, doomed); !errors.Is(err, queue.ErrJobNotFound) {
			t.Fatalf("the job is still there: %v", err)
		}
	})

	step(t, "search finds a job by a word in its payload", func(t *testing.T) {
		run(t, admin, "search",
			chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/completed"),
			chromedp.WaitVisible(css(`#search`)),
			chromedp.SendKeys(css(`#search`), word+"\r"),
			// The search's own view, loaded: the list shown before it
			// holds the job too.
			chromedp.WaitVisible(css(`table[data-search="`+word+`"][aria-busy="false"] `+row(failed))))
		if n := eval[int](t, admin, `document.querySelectorAll("tbody tr").length`); n != 1 {
			t.Fatalf("search for %q shows %d rows, want 1", word, n)
		}
	})

	step(t, "job detail", func(t *testing.T) {
		run(t, admin, "open the job",
			chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/job/"+showcase),
			chromedp.WaitVisible(css(`.error-text`)))
		payload := eval[string](t, admin, `document.querySelector("pre:not(.error-text)").textContent`)
		if !strings.Contains(payload, `"recipients"`) || !strings.Contains(payload, "\n") {
			t.Errorf("payload not pretty-printed: %q", payload)
		}
		shot(t, admin, filepath.Join(dir, "dashboard-job.png"))
	})

	step(t, "live latency with 100 jobs/s", func(t *testing.T) {
		run(t, admin, "open completed jobs",
			chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/completed"),
			chromedp.WaitVisible(css(`tbody tr`)))
		// Each row carries its transition's server time (data-at): the
		// observer notes how long after it the row appeared or changed.
		eval[bool](t, admin, `window.__lat = []; new MutationObserver((ms) => { const now = Date.now();
			for (const m of ms) for (const n of m.addedNodes) if (n.dataset && n.dataset.at) window.__lat.push(now - Date.parse(n.dataset.at)); })
			.observe(document.querySelector("tbody"), {childList: true}); true`)
		const rate, secs = 100, 5
		tick := time.NewTicker(time.Second / rate)
		for i := range rate * secs {
			<-tick.C
			s.enqueue(t, "load", map[string]int{"i": i})
		}
		tick.Stop()
		var lat []float64
		testenv.Eventually(t, 30*time.Second, func() bool {
			lat = eval[[]float64](t, admin, `window.__lat`)
			return len(lat) >= rate*secs
		}, "rows seen: %d of %d", len(lat), rate*secs)
		slices.Sort(lat)
		p := func(q float64) float64 { return lat[int(q*float64(len(lat)-1))] }
		t.Logf("live update latency (transition → row in the page), %d rows at %d jobs/s: p50 %.0f ms, p99 %.0f ms, max %.0f ms",
			len(lat), rate, p(0.5), p(0.99), lat[len(lat)-1])
		if p(0.99) > 1000 {
			t.Errorf("live update p99 %.0f ms, over 1 s", p(0.99))
		}
	})

	step(t, "overview", func(t *testing.T) {
		run(t, admin, "overview",
			chromedp.Navigate(s.base+"/admin#/"),
			chromedp.WaitVisible(css(`[data-queue="`+testQueue+`"] svg.chart`)),
			chromedp.WaitVisible(css(`#runtime p`)))
		st, err := s.admin.QueueStats(context.Background(), testQueue)
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, func() bool {
			return eval[string](t, admin, `document.querySelector('[data-queue="`+testQueue+`"] [data-count="completed"] b').textContent`) == fmt.Sprint(st.Completed)
		}, "the overview does not show %d completed", st.Completed)
		shot(t, admin, filepath.Join(dir, "dashboard-overview.png"))
	})

	step(t, "phone width", func(t *testing.T) {
		run(t, admin, "phone",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/completed"),
			chromedp.WaitVisible(css(`tbody tr`)))
		overflow := eval[bool](t, admin, `document.documentElement.scrollWidth > window.innerWidth + 1`)
		run(t, admin, "desktop again", chromedp.EmulateViewport(1280, 800))
		if overflow {
			t.Error("the page scrolls sideways at phone width")
		}
	})

	step(t, "viewer sees no actions and is refused", func(t *testing.T) {
		s.failing.Store(true)
		other := s.enqueue(t, "flaky", map[string]string{"note": "for the viewer"})
		s.waitState(t, other, queue.StateFailed)
		viewer := b.tab(t)
		run(t, viewer, "viewer", signIn(s.base, s.vTk, "#/q/"+testQueue+"/failed"), chromedp.WaitVisible(css(row(other))))
		buttons := eval[int](t, viewer, `document.querySelectorAll("button[data-act]").length`)
		status := eval[int](t, viewer, `fetch("/api/v1/admin/queues/`+testQueue+`/jobs/`+other+`/retry", {method: "POST",
			headers: {Authorization: "Bearer " + sessionStorage.getItem("tipbox.dashboard.token")}}).then((r) => r.status)`, chromedp.EvalAwaitPromise)
		run(t, viewer, "viewer overview", chromedp.Navigate(s.base+"/admin#/"), chromedp.WaitVisible(css(`[data-queue="`+testQueue+`"] .counts`)))
		overviewButtons := eval[int](t, viewer, `document.querySelectorAll("button[data-act]").length`)
		if buttons != 0 || overviewButtons != 0 {
			t.Errorf("a viewer sees %d action buttons on the jobs, %d on the overview", buttons, overviewButtons)
		}
		if status != 403 {
			t.Errorf("a viewer's forged retry: %d, want 403", status)
		}
		if j, err := s.admin.Job(context.Background(), testQueue, other); err != nil || j.State != queue.StateFailed {
			t.Errorf("the viewer's retry changed the job: %v %v", j, err)
		}
	})

}

// The same page on the Redis profile: jobs in Redis Streams, the workers
// (here embedded, as cmd/worker would run them) sharing them.
func TestDashboardOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	redisAddr := testenv.RedisAddr(t)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { testenv.DeleteKeys(t, redisAddr, prefix) })
	b := newBrowser(t)
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(b.errs, "\n"))
		}
	})
	s := startAPI(t, "configs/redis.yaml", "REDIS_URL=redis://"+redisAddr+"/0", "TIPBOX_WORKER_EMBEDDED=true",
		"TIPBOX_QUEUE_REDIS_PREFIX="+prefix, "TIPBOX_CACHE_REDIS_PREFIX="+prefix, "TIPBOX_REALTIME_REDIS_CHANNEL_PREFIX="+prefix)
	s.failing.Store(true)
	failed := s.enqueue(t, "flaky", map[string]string{"note": "on redis"})
	s.waitState(t, failed, queue.StateFailed)
	tab := b.tab(t)
	run(t, tab, "sign in", signIn(s.base, s.adminTok, "#/q/"+testQueue+"/failed"), chromedp.WaitVisible(css(row(failed))))
	s.failing.Store(false)
	run(t, tab, "retry",
		chromedp.Click(css(row(failed)+` button[data-act="retry"]`)),
		chromedp.WaitVisible(css(row(failed)+` [data-state="completed"]`)))
	run(t, tab, "overview", chromedp.Navigate(s.base+"/admin#/"),
		chromedp.WaitVisible(css(`[data-queue="`+testQueue+`"] [data-count="completed"]`)))
	// The overview shows the counts last pushed to the page; the retried
	// job's completion reaches them with a later push.
	var n string
	testenv.Eventually(t, 10*time.Second, func() bool {
		n = eval[string](t, tab, `document.querySelector('[data-queue="`+testQueue+`"] [data-count="completed"] b').textContent`)
		return n == "1"
	}, "completed count %v, want 1", testenv.Later(func() any { return n }))
}
