package queuetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// API serves an Env's admin routes on a real listener.
type API struct {
	URL                 string
	Admin, Viewer, User string // tokens
	Hub                 *queue.EventHub
	t                   *testing.T
	client              *http.Client
}

// ServeAPI starts the admin routes over e's backend.
func (e *Env) ServeAPI() *API {
	t := e.T
	v, err := auth.NewVerifier(auth.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	hub := queue.NewEventHub(e.Backend, Logger(), 0)
	routes := queue.NewAdminRoutes(e.Admin, e.Backend, hub, v, Logger())
	routes.KeepAlive = 200 * time.Millisecond
	srv, err := httpserver.New("test", httpserver.Config{Addr: "127.0.0.1:0", WriteTimeout: e.APIWriteTimeout}, Logger(), prometheus.NewRegistry(),
		prometheus.NewRegistry(), health.NewRegistry(nil, time.Second), []httpserver.Routes{routes})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	a := &API{URL: "http://" + srv.Addr().String(), Hub: hub, t: t, client: &http.Client{Timeout: 10 * time.Second}}
	a.Admin, _ = v.Issue(1, auth.RoleAdmin, time.Hour)
	a.Viewer, _ = v.Issue(2, auth.RoleViewer, time.Hour)
	a.User, _ = v.Issue(3, auth.RoleUser, time.Hour)
	return a
}

// Do sends a request and returns the status and body.
func (a *API) Do(method, path, token, body string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// SSE is an open event stream.
type SSE struct {
	Events chan SSEEvent
	resp   *http.Response
	// KeepAlives counts the keep-alive comments received.
	KeepAlives atomic.Int64
}

// SSEEvent is one received event.
type SSEEvent struct {
	ID   string
	Data queue.Event
}

// Stream opens the queue's event stream (lastID: the Last-Event-ID header).
func (a *API) Stream(q, token, lastID string) *SSE {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/admin/queues/"+q+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.t.Fatalf("event stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &SSE{Events: make(chan SSEEvent, 10000), resp: resp}
	go func() {
		defer close(s.Events)
		sc := bufio.NewScanner(resp.Body)
		var id string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == ": keep-alive":
				s.KeepAlives.Add(1)
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				var ev queue.Event
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					s.Events <- SSEEvent{ID: id, Data: ev}
				}
			}
		}
	}()
	a.t.Cleanup(s.Close)
	return s
}

// Close drops the connection.
func (s *SSE) Close() { _ = s.resp.Body.Close() }

// Next returns the next event or fails after d.
func (s *SSE) Next(t *testing.T, d time.Duration) SSEEvent {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %s", d)
	}
	return SSEEvent{}
}

func testJobAPI(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Retry.MaxAttempts = 1
	e := NewEnv(t, h, cfg)
	api := e.ServeAPI()
	ctx := context.Background()
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		switch j.Name {
		case "fail":
			return errors.New("kaboom needle-in-error")
		case "block":
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}})
	done, _ := e.Client.Enqueue(ctx, "jobs", "ok", map[string]string{"word": "needle-in-payload"})
	failed, _ := e.Client.Enqueue(ctx, "jobs", "fail", nil)
	later, _ := e.Client.Enqueue(ctx, "jobs", "ok", nil, queue.WithDelay(time.Hour))
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		s := e.Stats("jobs")
		return s.Completed == 1 && s.Failed == 1
	}, "jobs not finished: %+v", testenv.Later(func() any { return e.Stats("jobs") }))

	type tc struct {
		method, path, token, body string
		status                    int
		want                      string
	}
	run := func(cases []tc) {
		t.Helper()
		for _, c := range cases {
			st, b := api.Do(c.method, c.path, c.token, c.body)
			if st != c.status || !strings.Contains(b, c.want) {
				t.Errorf("%s %s: %d %s, want %d containing %s", c.method, c.path, st, b, c.status, c.want)
			}
		}
	}
	base := "/api/v1/admin/queues/jobs"
	run([]tc{
		{"GET", "/api/v1/admin/queues", "", "", 401, `"unauthorized"`},
		{"GET", "/api/v1/admin/queues", api.User, "", 403, `"forbidden"`},
		{"GET", "/api/v1/admin/queues", api.Viewer, "", 200, `"name":"jobs"`},
		{"GET", base, api.Admin, "", 200, `"completed":1,"failed":1,"delayed":1`},
		{"GET", "/api/v1/admin/queues/nope", api.Admin, "", 404, `"queue_not_found"`},
		{"GET", "/api/v1/admin/queues/nope/jobs/" + done, api.Viewer, "", 404, `"queue_not_found"`},
		{"GET", base + "/jobs/" + done, api.Viewer, "", 200, `"state":"completed"`},
		{"GET", base + "/jobs/" + done, api.Viewer, "", 200, `"payload":{"word":"needle-in-payload"}`},
		{"GET", base + "/jobs/" + done, api.Viewer, "", 200, `"attempts":1,"maxAttempts":1`},
		{"GET", base + "/jobs/" + done, api.Viewer, "", 200, `"progress":100,"error":null`},
		{"GET", base + "/jobs/" + done, api.Viewer, "", 200, `"logs":[]`},
		{"GET", base + "/jobs/" + failed, api.Admin, "", 200, `"state":"failed"`},
		{"GET", base + "/jobs/" + failed, api.Admin, "", 200, `"error":"kaboom needle-in-error"`},
		{"GET", base + "/jobs/" + later, api.Admin, "", 200, `"state":"delayed"`},
		{"GET", base + "/jobs/no-such-job", api.Admin, "", 404, `"job_not_found"`},
		{"GET", base + "/jobs?state=bogus", api.Admin, "", 400, `"bad_request"`},
		{"GET", base + "/jobs?state=failed&limit=0", api.Admin, "", 400, `"bad_request"`},
		{"GET", base + "/jobs?state=failed&limit=1001", api.Admin, "", 400, `"bad_request"`},
		{"GET", base + "/jobs?state=failed", api.Viewer, "", 200, `"id":"` + failed + `"`},
		{"GET", base + "/jobs?state=completed&q=NEEDLE-IN-PAYLOAD", api.Viewer, "", 200, `"id":"` + done + `"`},
		{"GET", base + "/jobs?state=failed&q=needle-in-error", api.Viewer, "", 200, `"id":"` + failed + `"`},
		{"GET", base + "/jobs?state=failed&q=" + failed[:8], api.Viewer, "", 200, `"id":"` + failed + `"`},
		{"GET", base + "/jobs?state=completed&q=nothing-matches", api.Viewer, "", 200, `"jobs":[]`},
		{"GET", base + "/failed", api.Admin, "", 200, `"id":"` + failed + `"`},
		// Acting: viewers and users may not; admins get 409 for a state
		// that does not allow the action.
		{"POST", base + "/jobs/" + failed + "/retry", api.Viewer, "", 403, `"forbidden"`},
		{"POST", base + "/pause", api.Viewer, "", 403, `"forbidden"`},
		{"DELETE", base + "/jobs/" + done, api.Viewer, "", 403, `"forbidden"`},
		{"POST", base + "/jobs/" + done + "/promote", api.Admin, "", 409, `"job_state_conflict"`},
		{"POST", base + "/jobs/" + done + "/cancel", api.Admin, "", 409, `"job_state_conflict"`},
		{"POST", base + "/jobs/" + done + "/retry", api.Admin, "", 409, `"job_state_conflict"`},
		{"POST", base + "/jobs/no-such-job/cancel", api.Admin, "", 404, `"job_not_found"`},
		{"POST", base + "/clean", api.Admin, `{"state":"waiting"}`, 400, `"bad_request"`},
		{"POST", base + "/clean", api.Admin, `{"state":"completed","olderThan":"soon"}`, 400, `"bad_request"`},
		{"GET", base + "/metrics?range=48h", api.Admin, "", 400, `"bad_request"`},
		{"GET", base + "/metrics", api.Viewer, "", 200, `"completed":1`},
	})

	// Promote a delayed job: it runs now.
	run([]tc{{"POST", base + "/jobs/" + later + "/promote", api.Admin, "", 202, `"promote"`}})
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Completed == 2 }, "promoted job did not run")

	// Retry a failed job (it fails again: attempts stay bounded) and retry-failed.
	run([]tc{{"POST", base + "/jobs/" + failed + "/retry", api.Admin, "", 202, `"retry"`}})
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Failed == 2 }, "retried job did not run")
	run([]tc{{"POST", base + "/retry-failed", api.Admin, "", 202, `"count":1`}})
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Failed == 3 }, "retry-failed did not run")

	// Cancel a waiting job (paused queue) and a delayed one; delete them.
	if err := e.Admin.Pause(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waiting, _ := e.Client.Enqueue(ctx, "jobs", "ok", nil)
	delayed, _ := e.Client.Enqueue(ctx, "jobs", "ok", nil, queue.WithDelay(time.Hour))
	run([]tc{
		{"GET", base + "/jobs?state=waiting", api.Admin, "", 200, `"id":"` + waiting + `"`},
		{"POST", base + "/jobs/" + waiting + "/cancel", api.Admin, "", 202, `"cancel"`},
		{"POST", base + "/jobs/" + delayed + "/cancel", api.Admin, "", 202, `"cancel"`},
		{"GET", base + "/jobs/" + waiting, api.Admin, "", 200, `"state":"cancelled"`},
		{"GET", base + "/jobs/" + delayed, api.Admin, "", 200, `"state":"cancelled"`},
		{"GET", base, api.Admin, "", 200, `"waiting":0,"active":0`},
		{"DELETE", base + "/jobs/" + waiting, api.Admin, "", 204, ``},
		{"GET", base + "/jobs/" + waiting, api.Admin, "", 404, `"job_not_found"`},
		{"POST", base + "/jobs/" + delayed + "/retry", api.Admin, "", 202, `"retry"`},
		{"GET", base + "/jobs?state=waiting", api.Admin, "", 200, `"id":"` + delayed + `"`},
	})
	if err := e.Admin.Resume(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Completed == 3 }, "retried cancelled job did not run")

	// Cancel an active job: its handler's context ends, it is not retried.
	blocked, _ := e.Client.Enqueue(ctx, "jobs", "block", nil, queue.WithMaxAttempts(3))
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool {
		j, err := e.Admin.Job(ctx, "jobs", blocked)
		return err == nil && j.State == queue.StateActive
	}, "blocking job not active")
	run([]tc{
		{"DELETE", base + "/jobs/" + blocked, api.Admin, "", 409, `"job_state_conflict"`},
		{"POST", base + "/jobs/" + blocked + "/cancel", api.Admin, "", 202, `"cancel"`},
	})
	testenv.Eventually(t, scale(h, time.Second), func() bool {
		j, err := e.Admin.Job(ctx, "jobs", blocked)
		return err == nil && j.State == queue.StateCancelled
	}, "active job not cancelled")

	// Clean finished jobs.
	st, body := api.Do("POST", base+"/clean", api.Admin, `{"state":"completed","olderThan":"0s"}`)
	if st != 200 || !strings.Contains(body, `"count":3`) {
		t.Fatalf("clean: %d %s", st, body)
	}
	if st, _ := api.Do("GET", base+"/jobs/"+done, api.Admin, ""); st != 404 {
		t.Fatalf("cleaned job still found: %d", st)
	}
}

// testEvents: a new job's transitions arrive in order on the stream, and a
// stream resumed with Last-Event-ID gets what it missed, with no gap.
func testEvents(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	// A write timeout far shorter than a stream's life: the stream must
	// outlive it.
	e.APIWriteTimeout = 300 * time.Millisecond
	api := e.ServeAPI()
	ctx := context.Background()
	s := api.Stream("jobs", api.Viewer, "")
	var progressed atomic.Bool
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		if j.Name == "progress" {
			if err := j.Progress(ctx, 40); err != nil {
				return err
			}
			if err := j.Log(ctx, "halfway through %s", j.ID); err != nil {
				return err
			}
			progressed.Store(true)
		}
		return nil
	}})
	id, err := e.Client.Enqueue(ctx, "jobs", "progress", nil)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	var last string
	for len(states) < 4 {
		ev := s.Next(t, scale(h, 5*time.Second))
		if ev.Data.JobID != id {
			continue
		}
		st := string(ev.Data.State)
		if ev.Data.Progress != nil {
			st += fmt.Sprintf("(%d)", *ev.Data.Progress)
		}
		states = append(states, st)
		last = ev.ID
		if ev.Data.Queue != "jobs" || ev.Data.Name != "progress" || ev.Data.At.IsZero() {
			t.Fatalf("event %+v", ev.Data)
		}
	}
	if got := strings.Join(states, " "); got != "waiting active active(40) completed" {
		t.Fatalf("transitions %q, want waiting active active(40) completed", got)
	}
	j, err := e.Admin.Job(ctx, "jobs", id)
	if err != nil || len(j.Logs) != 1 || !strings.Contains(j.Logs[0].Message, "halfway through "+id) {
		t.Fatalf("logs %+v %v", j, err)
	}

	// Drop the stream; jobs run meanwhile; resume from the last id.
	s.Close()
	var ids []string
	for i := 0; i < 5; i++ {
		id, err := e.Client.Enqueue(ctx, "jobs", "quiet", i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return e.Stats("jobs").Completed == 6 }, "jobs not done")
	r := api.Stream("jobs", api.Viewer, last)
	seen := map[string][]string{}
	for n := 0; n < 15; n++ {
		ev := r.Next(t, scale(h, 5*time.Second))
		seen[ev.Data.JobID] = append(seen[ev.Data.JobID], string(ev.Data.State))
	}
	for _, id := range ids {
		if got := strings.Join(seen[id], " "); got != "waiting active completed" {
			t.Fatalf("resumed stream: job %s transitions %q", id, got)
		}
	}
	// Live events keep coming after the replay.
	live, _ := e.Client.Enqueue(ctx, "jobs", "quiet", 99)
	for {
		ev := r.Next(t, scale(h, 5*time.Second))
		if ev.Data.JobID == live && ev.Data.State == queue.StateCompleted {
			break
		}
	}
	// The stream outlives the server's write timeout (300 ms): after more
	// than a second of keep-alives (every 200 ms) an event still arrives.
	from := r.KeepAlives.Load()
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return r.KeepAlives.Load() >= from+6 },
		"keep-alives stopped: the stream was cut")
	late, _ := e.Client.Enqueue(ctx, "jobs", "quiet", 100)
	for {
		ev := r.Next(t, scale(h, 5*time.Second))
		if ev.Data.JobID == late && ev.Data.State == queue.StateCompleted {
			break
		}
	}
}
