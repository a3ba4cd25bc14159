package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
)

// fakeAdmin is an Admin with one queue "jobs" and one dead job "d1".
type fakeAdmin struct{ paused bool }

func (f *fakeAdmin) check(name string) error {
	if name != "jobs" {
		return fmt.Errorf("%w: %q", queue.ErrQueueNotFound, name)
	}
	return nil
}
func (f *fakeAdmin) Stats(ctx context.Context) ([]queue.Stats, error) {
	s, _ := f.QueueStats(ctx, "jobs")
	return []queue.Stats{s}, nil
}
func (f *fakeAdmin) QueueStats(_ context.Context, name string) (queue.Stats, error) {
	return queue.Stats{Name: name, Waiting: 3, Active: 1, Completed: 10, Failed: 2, Delayed: 1, Paused: f.paused}, f.check(name)
}
func (f *fakeAdmin) Failed(_ context.Context, name string, limit int) ([]queue.FailedJob, error) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []queue.FailedJob{{ID: "d1", Payload: json.RawMessage(`{"a":1}`), Error: "boom", Attempts: 3, FailedAt: at}}[:min(limit, 1)], f.check(name)
}
func (f *fakeAdmin) Retry(_ context.Context, name, id string) error {
	if err := f.check(name); err != nil {
		return err
	}
	if id != "d1" {
		return queue.ErrJobNotFound
	}
	return nil
}
func (f *fakeAdmin) Pause(_ context.Context, name string) error {
	f.paused = true
	return f.check(name)
}
func (f *fakeAdmin) Resume(_ context.Context, name string) error {
	f.paused = false
	return f.check(name)
}

func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(auth.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpserver.New("test", httpserver.Config{}, log, prometheus.NewRegistry(), prometheus.NewRegistry(),
		health.NewRegistry(nil, time.Second), []httpserver.Routes{queue.NewAdminRoutes(&fakeAdmin{}, v)})
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := v.Issue(1, auth.RoleAdmin, time.Hour)
	user, _ := v.Issue(2, "user", time.Hour)
	cases := []struct {
		method, path, token string
		status              int
		body                string
	}{
		{"GET", "/api/v1/admin/queues", "", 401, `"code":"unauthorized"`},
		{"GET", "/api/v1/admin/queues", user, 403, `"code":"forbidden"`},
		{"GET", "/api/v1/admin/queues", admin, 200,
			`[{"name":"jobs","waiting":3,"active":1,"completed":10,"failed":2,"delayed":1,"paused":false}]`},
		{"GET", "/api/v1/admin/queues/jobs", admin, 200, `{"name":"jobs","waiting":3,"active":1,"completed":10,"failed":2,"delayed":1,"paused":false}`},
		{"GET", "/api/v1/admin/queues/nope", admin, 404, `"code":"queue_not_found"`},
		{"GET", "/api/v1/admin/queues/jobs/failed", admin, 200,
			`[{"id":"d1","payload":{"a":1},"error":"boom","attempts":3,"failedAt":"2026-01-02T03:04:05Z"}]`},
		{"GET", "/api/v1/admin/queues/jobs/failed?limit=0", admin, 400, `"code":"bad_request"`},
		{"POST", "/api/v1/admin/queues/jobs/failed/d1/retry", admin, 202, `"id":"d1"`},
		{"POST", "/api/v1/admin/queues/jobs/failed/zz/retry", admin, 404, `"code":"job_not_found"`},
		{"POST", "/api/v1/admin/queues/jobs/pause", admin, 200, `"paused":true`},
		{"POST", "/api/v1/admin/queues/jobs/resume", admin, 200, `"paused":false`},
		{"POST", "/api/v1/admin/queues/nope/pause", user, 403, `"code":"forbidden"`},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := srv.App().Test(req, 5000)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s: %d %s, want %d containing %s", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}
