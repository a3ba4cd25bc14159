package dashboard_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	cachememory "github.com/tipbox/tipbox/adapters/cache/memory"
	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/dashboard"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/internal/testenv"
)

// env is a real server on the memory queue: the queue admin routes and
// the dashboard, a worker whose "boom" jobs fail for good, and tokens.
type env struct {
	base                string
	enq                 queue.Enqueuer
	admin               *queue.Admin
	adminTok, viewerTok string
	userTok             string
	log                 *testenv.Buffer
	reg                 *prometheus.Registry
	dash                *dashboard.Dashboard
}

func newEnv(t *testing.T) *env {
	t.Helper()
	src, err := config.Parse("test.yaml", []byte("queue:\n  driver: memory\n  queues: [jobs, other]\n  shutdown_timeout: 2s\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	e := &env{log: logs, reg: reg}
	var backend queue.Backend
	var hub *queue.EventHub
	app := fxtest.New(t,
		fx.NopLogger,
		config.Module(src),
		fx.Supply(log, v),
		fx.Provide(func() prometheus.Registerer { return reg }),
		queue.Module, queue.WorkerModule, memory.Module,
		queue.AsHandler(func() queue.Handler {
			return queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
				if j.Name == "boom" {
					return queue.Permanent(errors.New("boom: it broke"))
				}
				return nil
			}}
		}),
		queue.AsHandler(func() queue.Handler {
			return queue.Handler{Queue: "other", Handle: func(context.Context, *queue.Job) error { return nil }}
		}),
		fx.Populate(&e.enq, &e.admin, &backend, &hub),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)

	e.dash, err = dashboard.New(dashboard.Deps{Admin: e.admin, Store: backend, Hub: hub, Verifier: v, Gatherer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.dash.KeepAlive = 50 * time.Millisecond
	routes := queue.NewAdminRoutes(e.admin, backend, hub, v, log)
	s, err := httpserver.New("test", httpserver.Config{Addr: "127.0.0.1:0", WriteTimeout: 300 * time.Millisecond}, log, reg, reg, health.NewRegistry(nil, 0),
		[]httpserver.Routes{routes}, httpserver.WithAuth(v), httpserver.WithEndpoints(e.dash))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hub.Close() // ends open streams, which the server's shutdown waits for
		_ = s.Stop(context.Background())
	})
	e.base = "http://" + s.Addr().String()
	for role, tok := range map[string]*string{auth.RoleAdmin: &e.adminTok, auth.RoleViewer: &e.viewerTok, auth.RoleUser: &e.userTok} {
		if *tok, err = v.Issue(7, role, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) do(t *testing.T, method, path, token, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// failedJob enqueues a job that fails for good and waits until it is failed.
func (e *env) failedJob(t *testing.T, payload any) string {
	t.Helper()
	id, err := e.enq.Enqueue(context.Background(), "jobs", "boom", payload)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		j, err := e.admin.Job(context.Background(), "jobs", id)
		return err == nil && j.State == queue.StateFailed
	}, "job %s did not fail", id)
	return id
}

func TestPageAndAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	status, hdr, page := e.do(t, "GET", "/admin", "", "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin: %d %s", status, hdr.Get("Content-Type"))
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/admin/assets/[^"?]+)\?v=([0-9a-f]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) != 2 {
		t.Fatalf("page references %d assets, want app.js and app.css:\n%s", len(refs), page)
	}
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|url\(\s*['"]?(https?:)?//|@import|fonts\.`)
	if external.Match(page) {
		t.Error("the page references another host")
	}
	for _, r := range refs {
		status, hdr, body := e.do(t, "GET", r[1]+"?v="+r[2], "", "", "Accept-Encoding", "gzip")
		if status != 200 || hdr.Get("Content-Encoding") != "gzip" || !strings.Contains(hdr.Get("Cache-Control"), "immutable") {
			t.Fatalf("GET %s: %d encoding %q cache %q", r[1], status, hdr.Get("Content-Encoding"), hdr.Get("Cache-Control"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if external.Match(plain) {
			t.Errorf("%s references another host", r[1])
		}
		// Without the current version the asset must be revalidated.
		if _, hdr, _ := e.do(t, "GET", r[1]+"?v=old", "", ""); hdr.Get("Cache-Control") != "no-cache" {
			t.Errorf("stale version cached: %q", hdr.Get("Cache-Control"))
		}
	}
	if status, _, _ := e.do(t, "GET", "/admin/assets/nope.js", "", ""); status != 404 {
		t.Errorf("unknown asset: %d", status)
	}
}

// The page as a browser downloads it stays light.
func TestPageWeight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.dash.GzipSize()
	t.Logf("page weight: %d bytes gzipped (shell and every asset)", n)
	if n > 150*1024 {
		t.Fatalf("page weighs %d bytes gzipped, over 150 KB", n)
	}
}

// Every data route of the dashboard: 401 without a token, 403 for a
// plain user, 200 for viewers and admins; only admins may act.
func TestRoutesAndRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/api/v1/admin/dashboard/session", "/api/v1/admin/dashboard/runtime"} {
		for tok, want := range map[string]int{"": 401, "not-a-jwt": 401, e.userTok: 403, e.viewerTok: 200, e.adminTok: 200} {
			if status, _, body := e.do(t, "GET", path, tok, ""); status != want {
				t.Errorf("GET %s with %.10q: %d %s, want %d", path, tok, status, body, want)
			}
		}
	}
	for tok, want := range map[string]bool{e.viewerTok: false, e.adminTok: true} {
		_, hdr, body := e.do(t, "GET", "/api/v1/admin/dashboard/session", tok, "")
		var s struct {
			Role   string   `json:"role"`
			CanAct bool     `json:"canAct"`
			Queues []string `json:"queues"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		if s.CanAct != want || len(s.Queues) != 2 || hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("session %+v, Cache-Control %q", s, hdr.Get("Cache-Control"))
		}
	}
	// The event stream: refused without a role before it starts.
	for tok, want := range map[string]int{"": 401, e.userTok: 403} {
		if status, _, _ := e.do(t, "GET", "/api/v1/admin/dashboard/events", tok, ""); status != want {
			t.Errorf("events with %.10q: %d, want %d", tok, status, want)
		}
	}
	if status, _, _ := e.do(t, "GET", "/api/v1/admin/dashboard/events?queues=nope", e.adminTok, ""); status != 404 {
		t.Errorf("events of an unknown queue: %d", status)
	}
}

// The actions the dashboard offers are refused to a viewer with 403 and
// taken from an admin, who leaves an audit line naming them.
func TestViewerCannotActAdminIsAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.failedJob(t, map[string]string{"note": "refused"})
	const q = "/api/v1/admin/queues/jobs"
	actions := [][3]string{
		{"POST", q + "/jobs/" + id + "/retry", ""},
		{"POST", q + "/jobs/" + id + "/promote", ""},
		{"POST", q + "/jobs/" + id + "/cancel", ""},
		{"DELETE", q + "/jobs/" + id, ""},
		{"POST", q + "/retry-failed", ""},
		{"POST", q + "/clean", `{"state":"completed","olderThan":"1h"}`},
		{"POST", q + "/pause", ""},
		{"POST", q + "/resume", ""},
	}
	for _, a := range actions {
		if status, _, body := e.do(t, a[0], a[1], e.viewerTok, a[2]); status != 403 {
			t.Errorf("viewer %s %s: %d %s, want 403", a[0], a[1], status, body)
		}
	}
	if status, _, body := e.do(t, "POST", q+"/jobs/"+id+"/retry", e.adminTok, ""); status != 202 {
		t.Fatalf("admin retry: %d %s", status, body)
	}
	testenv.Eventually(t, 3*time.Second, func() bool {
		return strings.Contains(e.log.String(), `"action":"queue.job.retry","target":"queue:jobs/`+id+`","status":202`)
	}, "no audit line for the admin's retry:\n%s", e.log.String())
	for _, line := range strings.Split(e.log.String(), "\n") {
		if strings.Contains(line, `"action":"queue.job.retry","target":"queue:jobs/`+id+`","status":202`) &&
			!strings.Contains(line, `"actor":"user:7","role":"admin"`) {
			t.Errorf("audit line does not say who: %s", line)
		}
	}
}

// The queue admin routes that take a body read it like every JSON route:
// application/json only (415 otherwise), no duplicate or unknown keys, and
// a 400 whose message names the field, never a Go type.
func TestQueueAdminBodiesAreStrict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const q = "/api/v1/admin/queues/jobs"
	for _, tc := range []struct {
		name, method, path, body, ctype string
		status                          int
		want                            string
	}{
		{"clean as text/plain", "POST", q + "/clean", `{"state":"completed"}`, "text/plain", 415, `"code":"unsupported_media_type"`},
		{"clean with a form", "POST", q + "/clean", `state=completed`, "application/x-www-form-urlencoded", 415, `"code":"unsupported_media_type"`},
		{"clean with a duplicate key", "POST", q + "/clean", `{"state":"completed","state":"failed"}`, "application/json", 400, `duplicate field \"state\"`},
		{"clean with an unknown key", "POST", q + "/clean", `{"state":"completed","olderthan":"1h"}`, "application/json", 400, `unknown field \"olderthan\"`},
		{"schedule as text/plain", "PUT", q + "/schedulers/x", `{"name":"n","every":"1h"}`, "text/plain", 415, `"code":"unsupported_media_type"`},
		{"schedule with a duplicate key", "PUT", q + "/schedulers/x", `{"name":"n","every":"1h","every":"1s"}`, "application/json", 400, `duplicate field \"every\"`},
		{"schedule with a wrong kind", "PUT", q + "/schedulers/x", `{"name":"n","every":"1h","maxAttempts":"3"}`, "application/json", 400, `field \"maxAttempts\": want a whole number`},
		{"schedule with a bad duration", "PUT", q + "/schedulers/x", `{"name":"n","every":"soon"}`, "application/json", 400, `field \"every\": time: invalid duration`},
		{"schedule with a bad priority", "PUT", q + "/schedulers/x", `{"name":"n","every":"1h","priority":"urgent"}`, "application/json", 400, `field \"priority\": queue: unknown priority`},
	} {
		status, _, body := e.do(t, tc.method, tc.path, e.adminTok, tc.body, "Content-Type", tc.ctype)
		if status != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, status, body, tc.status, tc.want)
		}
		if strings.Contains(string(body), "Go ") || strings.Contains(string(body), "queue.") || strings.Contains(string(body), "Schedule") {
			t.Errorf("%s: the message names a Go type: %s", tc.name, body)
		}
	}
	// Well-formed bodies still work.
	if status, _, body := e.do(t, "POST", q+"/clean", e.adminTok, `{"state":"completed","olderThan":"1h"}`); status != 200 {
		t.Errorf("clean: %d %s", status, body)
	}
	if status, _, body := e.do(t, "PUT", q+"/schedulers/x", e.adminTok, `{"name":"n","every":"1h","priority":"high","payload":{"a":1}}`); status != 200 {
		t.Errorf("put schedule: %d %s", status, body)
	}
}

// The runtime route reads the cache and realtime figures from the
// process's registry.
func TestRuntimeFromMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cm, err := cache.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := realtime.NewMetrics(e.reg); err != nil {
		t.Fatal(err)
	}
	store, err := cachememory.New(cachememory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	aside := cache.NewAside[string]("profile", store, cache.AsideOptions{}, slog.New(slog.DiscardHandler), cm)
	load := func(context.Context) (string, error) { return "v", nil }
	for range 2 { // a miss, then a hit
		if _, _, err := aside.Get(context.Background(), "k", load); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 2*time.Second, func() bool {
		_, _, body := e.do(t, "GET", "/api/v1/admin/dashboard/runtime", e.viewerTok, "")
		var rt dashboard.Runtime
		if err := json.Unmarshal(body, &rt); err != nil {
			t.Fatal(err)
		}
		return len(rt.Caches) == 1 && rt.Caches[0].Name == "profile" && rt.Caches[0].HitRate != nil &&
			*rt.Caches[0].HitRate == 0.5 && rt.Caches[0].Breaker == "closed" && rt.Realtime.Connections == 0
	}, "runtime does not show the profile cache's hit and miss")
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	id   string
	data map[string]any
}

// openStream reads the dashboard's event stream into a channel.
func (e *env) openStream(t *testing.T, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/v1/admin/dashboard/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.viewerTok)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 1000)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		// A message is a batch of events; its id is the position after
		// the last one, given here to each.
		var id string
		var batch []map[string]any
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &batch)
			case strings.HasPrefix(line, ": keep-alive"):
				out <- sseEvent{id: "keep-alive"}
			case line == "" && batch != nil:
				for _, data := range batch {
					out <- sseEvent{id: id, data: data}
				}
				batch = nil
			}
		}
		close(out)
	}()
	return out, cancel
}

func waitFor(t *testing.T, c <-chan sseEvent, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c:
			if !ok {
				t.Fatal("stream ended")
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no matching event within 5s")
		}
	}
}

// One stream carries every queue's transitions; a stream resumed with
// the last id it saw gets what happened meanwhile, in every queue.
func TestEventsStreamMultiplexesAndResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evs, stop := e.openStream(t, "")
	a := e.failedJob(t, "first")
	last := waitFor(t, evs, func(ev sseEvent) bool { return ev.data["jobId"] == a && ev.data["state"] == "failed" })
	if last.data["error"] != "boom: it broke" || last.data["queue"] != "jobs" {
		t.Errorf("event %v", last.data)
	}
	stop()

	// While no stream is open: a transition in each queue.
	b := e.failedJob(t, "second")
	c, err := e.enq.Enqueue(context.Background(), "other", "fine", nil)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		j, err := e.admin.Job(context.Background(), "other", c)
		return err == nil && j.State == queue.StateCompleted
	}, "job %s did not complete", c)

	evs, stop = e.openStream(t, last.id)
	defer stop()
	var sawB, sawC atomic.Bool
	waitFor(t, evs, func(ev sseEvent) bool {
		if ev.data["jobId"] == a {
			t.Errorf("replayed an event before the resume point: %v", ev.data)
		}
		if ev.data["jobId"] == b && ev.data["state"] == "failed" {
			sawB.Store(true)
		}
		if ev.data["jobId"] == c && ev.data["state"] == "completed" {
			sawC.Store(true)
		}
		return sawB.Load() && sawC.Load()
	})
	// And live events keep coming after the replay.
	d := e.failedJob(t, "third")
	waitFor(t, evs, func(ev sseEvent) bool { return ev.data["jobId"] == d && ev.data["state"] == "failed" })

	if status, _, _ := e.do(t, "GET", "/api/v1/admin/dashboard/events", e.viewerTok, "", "Last-Event-ID", "%zz"); status != 400 {
		t.Errorf("a malformed Last-Event-ID: %d, want 400", status)
	}
}

// A stream lives past the server's write timeout (300 ms here): it moves
// its own deadline on at each write, keep-alives included.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evs, stop := e.openStream(t, "")
	defer stop()
	var since time.Time
	waitFor(t, evs, func(ev sseEvent) bool { // keep-alives for over three write timeouts
		if since.IsZero() {
			since = time.Now()
		}
		return ev.id == "keep-alive" && time.Since(since) > time.Second
	})
	id := e.failedJob(t, "late")
	waitFor(t, evs, func(ev sseEvent) bool { return ev.data["jobId"] == id && ev.data["state"] == "failed" })
}
