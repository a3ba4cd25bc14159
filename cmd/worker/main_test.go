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
		"TIPBOX_QUEUE_REDIS_CONSUMER=worker-admin-test",
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
	if !strings.Contains(string(r.Body), "go_goroutines") {
		t.Fatalf("metrics:\n%s", r.Body)
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
