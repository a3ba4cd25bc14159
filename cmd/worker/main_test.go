package main_test

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

func TestWorkerRefusesTheMemoryQueue(t *testing.T) {
	t.Parallel()
	p := e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"),
		[]string{fmt.Sprintf("TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:%d", testenv.FreePort(t))})
	if code := p.Wait(20 * time.Second); code == 0 {
		t.Fatal("worker started on the memory queue")
	}
	last := e2e.LastLine(p.Output())
	if !strings.HasPrefix(last, "tipbox-worker: ") || !strings.Contains(last, `queue.driver is "memory"`) {
		t.Fatalf("last line %q does not say why", last)
	}
}

func TestWorkerServesAdminEndpoints(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.RedisAddr(t)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { testenv.DeleteKeys(t, redisAddr, prefix) })
	admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), []string{
		"TIPBOX_WORKER_ADMIN_ADDR=" + admin,
		"REDIS_URL=redis://" + redisAddr + "/0",
		"TIPBOX_QUEUE_REDIS_PREFIX=" + prefix,
	}, "--config", "configs/redis.yaml")
	p.BaseURL = "http://" + admin
	p.WaitReady(15 * time.Second)
	for _, path := range []string{"/healthz", "/metrics"} {
		r := e2e.Do(t, "GET", p.BaseURL+path, "", "")
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	r := e2e.Do(t, "GET", p.BaseURL+"/metrics", "", "")
	for _, series := range []string{"go_goroutines", `tipbox_redis_pool_connections{client="queue"}`,
		`tipbox_redis_pool_waits_total{client="queue"}`} {
		if !strings.Contains(string(r.Body), series) {
			t.Fatalf("no %s in the metrics:\n%s", series, r.Body)
		}
	}
	r = e2e.Do(t, "GET", p.BaseURL+"/api/v1/badges", "", "")
	if r.Status != http.StatusNotFound {
		t.Fatalf("the worker serves API routes: %d", r.Status)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Output())
	}
}

// A worker may start before its Redis: it waits, then consumes once Redis
// answers (here: an analytics event enqueued through the API afterwards).
func TestWorkerStartsBeforeRedis(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRedis(t)
	rs.Kill()
	env := []string{"REDIS_URL=redis://" + rs.Addr() + "/0", "TIPBOX_DATABASE_DSN=file:" + t.TempDir() + "/shared.db"}
	profile := []string{"--config", "configs/redis.yaml"}
	api := e2e.StartAPI(t, env, profile...) // migrates the shared database
	admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w := e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), append(env,
		"TIPBOX_WORKER_ADMIN_ADDR="+admin), profile...)
	w.BaseURL = "http://" + admin
	w.WaitReady(15 * time.Second) // ready: the database is up; the queue is reported down
	if r := e2e.Do(t, "GET", w.BaseURL+"/readyz", "", ""); !strings.Contains(string(r.Body), `"queue":"down"`) {
		t.Fatalf("readyz with Redis down: %s", r.Body)
	}
	rs.Start()
	tok, adm := e2e.Token(t, 5, ""), e2e.Token(t, 1, "admin")
	testenv.Eventually(t, 10*time.Second, func() bool {
		return e2e.Do(t, "POST", api.BaseURL+"/api/v1/analytics/events", tok, `{"event":"late_start"}`).Status == http.StatusAccepted
	}, "the API could not enqueue after Redis came back")
	today := time.Now().UTC().Format(time.DateOnly)
	testenv.Eventually(t, 15*time.Second, func() bool {
		r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/analytics/events?event=late_start&from="+today+"&to="+today, adm, "")
		return strings.Contains(string(r.Body), `"count":`)
	}, "the worker did not consume after Redis came back")
	if w.Exited() {
		t.Fatalf("worker exited:\n%s", w.Output())
	}
}

// The worker signs email unsubscribe links with a key derived from
// auth.jwt_secret, so the secret policy holds for it as for the API: the
// public development secret only in development, and a secret with real
// entropy in production.
func TestWorkerSecretPolicy(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.RedisAddr(t)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { testenv.DeleteKeys(t, redisAddr, prefix) })
	base := []string{"REDIS_URL=redis://" + redisAddr + "/0", "TIPBOX_QUEUE_REDIS_PREFIX=" + prefix}
	start := func(env ...string) (*e2e.Proc, string) {
		admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		env = append(append([]string{"TIPBOX_WORKER_ADMIN_ADDR=" + admin}, base...), env...)
		return e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), env, "--config", "configs/redis.yaml"), admin
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"TIPBOX_ENV=production"}, `auth.jwt_secret: the development secret is refused when env is "production"`},
		{[]string{"TIPBOX_ENV=test"}, `auth.jwt_secret: the development secret is refused when env is "test"`},
		{[]string{"TIPBOX_ENV=production", "TIPBOX_AUTH_JWT_SECRET=" + strings.Repeat("a", 32)}, "estimated entropy 0 bits is below 128"},
	} {
		p, _ := start(tc.env...)
		if code := p.Wait(20 * time.Second); code == 0 {
			t.Errorf("%v: exit code 0", tc.env)
			continue
		}
		if !strings.Contains(e2e.LastLine(p.Output()), tc.want) {
			t.Errorf("%v: last line does not contain %q:\n%s", tc.env, tc.want, p.Output())
		}
	}
	// A production worker with a real secret starts; a development one
	// with the development secret starts and says so.
	p, admin := start("TIPBOX_ENV=production", "TIPBOX_AUTH_JWT_SECRET=q3Jx9vN0bW2tK8sZ1eY4uR7aL5cH6dF0gP2mV9xB3nT8wQ1zE4yU7iO0pA5sD6f")
	p.BaseURL = "http://" + admin
	p.WaitReady(15 * time.Second)
	p, admin = start()
	p.BaseURL = "http://" + admin
	p.WaitReady(15 * time.Second)
	if out := p.Output(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "public development secret") {
		t.Fatalf("no warning about the development secret:\n%s", out)
	}
}
