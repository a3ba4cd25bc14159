package e2e_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// The Redis profile, an API and a worker process: emails held by the
// user's quiet hours are cancelled through the API's queue admin routes.
// One is cancelled while no worker runs: the inbox says pending until a
// worker starts, then skipped: cancelled. One is cancelled while the
// worker runs: skipped: cancelled within seconds.
func TestCancelledEmailsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-process run; skipped with -short")
	}
	t.Parallel()
	rs := testenv.StartRedis(t)
	env := []string{
		"REDIS_URL=redis://" + rs.Addr() + "/0", "DATABASE_URL=" + testenv.PostgresDSN(t),
		"TIPBOX_LOG_LEVEL=warn", "TIPBOX_HTTP_RATE_LIMIT_RPS=0", "TIPBOX_DATABASE_WARM_CONNS=2",
	}
	profile := []string{"--config", "configs/redis.yaml"}
	api := e2e.StartAPI(t, env, profile...)
	worker := func() *e2e.Proc {
		return e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), append(env,
			fmt.Sprintf("TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:%d", testenv.FreePort(t))), profile...)
	}
	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, api.BaseURL, admin, "ayse")
	tok := e2e.Token(t, id, "")
	now := time.Now().UTC()
	quiet := fmt.Sprintf(`{"timeZone":"UTC","quietHours":{"start":%q,"end":%q}}`,
		now.Add(-time.Hour).Format("15:04"), now.Add(2*time.Hour).Format("15:04"))
	if r := e2e.Do(t, "PUT", userURL(api.BaseURL, id, "/preferences"), tok, quiet); r.Status != 200 {
		t.Fatalf("preferences: %d %s", r.Status, r.Body)
	}
	cancel := func(it item) {
		t.Helper()
		job := api.BaseURL + "/api/v1/admin/queues/emails/jobs/email-" + it.ID
		// The inbox shows the delivery pending as the notification is
		// stored; its channel job is enqueued just after.
		var r e2e.Response
		testenv.Eventually(t, 10*time.Second, func() bool {
			r = e2e.Do(t, "GET", job, admin, "")
			return r.Status == 200 && strings.Contains(string(r.Body), `"state":"delayed"`)
		}, "email job: %v", testenv.Later(func() any { return fmt.Sprintf("%d %s", r.Status, r.Body) }))
		if r := e2e.Do(t, "POST", job+"/cancel", admin, ""); r.Status/100 != 2 {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
	}

	w := worker()
	grant(t, api.BaseURL, admin, id, 1)
	first := waitState(t, api.BaseURL, id, tok, 1, "email", "pending")
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(30 * time.Second); code != 0 {
		t.Fatalf("worker exited %d", code)
	}
	cancel(first)
	for _, it := range inbox(t, api.BaseURL, id, tok) {
		if it.ID == first.ID && it.Channels["email"].State != "pending" {
			t.Fatalf("with no worker running, the cancelled email is already %+v", it.Channels["email"])
		}
	}
	worker()
	if it := waitState(t, api.BaseURL, id, tok, 1, "email", "skipped"); it.Channels["email"].Detail != "cancelled" {
		t.Fatalf("email of the first badge: %+v", it.Channels["email"])
	}

	grant(t, api.BaseURL, admin, id, 2)
	cancel(waitState(t, api.BaseURL, id, tok, 2, "email", "pending"))
	if it := waitState(t, api.BaseURL, id, tok, 2, "email", "skipped"); it.Channels["email"].Detail != "cancelled" {
		t.Fatalf("email of the second badge: %+v", it.Channels["email"])
	}
}
