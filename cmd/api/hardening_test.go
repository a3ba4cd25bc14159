package main_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	brotli "github.com/molecule-man/go-brrr"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// bomb compresses n zero bytes with the named coding.
func bomb(t *testing.T, coding string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch coding {
	case "gzip":
		w, err = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case "br":
		w, err = brotli.NewWriter(&buf, 5)
	}
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4<<20)
	for left := n; left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// peakRSS is the process's resident set high-water mark (VmHWM), in bytes:
// a peak that is freed again still shows.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func post(t *testing.T, url, token, contentType, encoding string, body []byte) e2e.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return e2e.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// A gzip and a brotli body that each expand to 512 MiB, well under the
// 1 MiB body limit as sent, get 413 from the real server, and its peak
// RSS grows by less than 20 MB.
func TestDecompressionBombs(t *testing.T) {
	t.Parallel()
	bombs := map[string][]byte{"gzip": bomb(t, "gzip", 512<<20), "br": bomb(t, "br", 512<<20)}
	api := e2e.StartAPI(t, nil)
	tok := e2e.Token(t, 77, "")
	// Warm up the paths the bombs take, so the baseline includes them.
	for range 3 {
		post(t, api.BaseURL+"/api/v1/analytics/events", tok, "application/json", "gzip", bomb(t, "gzip", 100))
	}
	before := peakRSS(t, api.PID())
	for _, coding := range []string{"gzip", "br"} {
		b := bombs[coding]
		if len(b) >= 1<<20 {
			t.Fatalf("%s bomb is %d bytes, not under the body limit", coding, len(b))
		}
		for _, path := range []string{"/api/v1/analytics/events", "/api/v1/users"} {
			for _, token := range []string{tok, ""} {
				r := post(t, api.BaseURL+path, token, "application/json", coding, b)
				if r.Status != 413 && r.Status != 415 {
					t.Errorf("%s bomb (%d bytes) to %s (token %v): %d %s", coding, len(b), path, token != "", r.Status, r.Body)
				}
			}
		}
		t.Logf("after the %s bomb (%d bytes): peak RSS %.1f MB", coding, len(b), float64(peakRSS(t, api.PID()))/(1<<20))
	}
	grew := peakRSS(t, api.PID()) - before
	t.Logf("peak RSS %d MB before, grew by %.1f MB", before>>20, float64(grew)/(1<<20))
	if grew >= 20<<20 {
		t.Fatalf("peak RSS grew by %.1f MB, want < 20 MB", float64(grew)/(1<<20))
	}
}

// A burst of 500 writes from one user gets 429s with Retry-After and the
// rate_limited code; another user is unaffected. The limits are lowered
// (20/s, burst 50) so the burst outruns them on a busy machine too.
func TestRateLimitPerUser(t *testing.T) {
	t.Parallel()
	api := e2e.StartAPI(t, []string{"TIPBOX_HTTP_RATE_LIMIT_RPS=20", "TIPBOX_HTTP_RATE_LIMIT_BURST=50"})
	a, b := e2e.Token(t, 501, ""), e2e.Token(t, 502, "")
	var limited, accepted atomic.Int64
	var bad sync.Once
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				r := post(t, api.BaseURL+"/api/v1/analytics/events", a, "application/json", "", []byte(`{"event":"burst"}`))
				switch r.Status {
				case 429:
					limited.Add(1)
					var e errBody
					_ = json.Unmarshal(r.Body, &e)
					if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || e.Error.Code != "rate_limited" {
						bad.Do(func() { t.Errorf("429 without Retry-After or code: %q %s", r.Header.Get("Retry-After"), r.Body) })
					}
				case 202:
					accepted.Add(1)
				default:
					bad.Do(func() { t.Errorf("status %d %s", r.Status, r.Body) })
				}
			}
		}()
	}
	for i := range 500 {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("500 writes: %d accepted, %d limited", accepted.Load(), limited.Load())
	if limited.Load() < 100 || accepted.Load() < 50 {
		t.Fatalf("%d accepted, %d limited: want the burst (50) through and most of the rest limited", accepted.Load(), limited.Load())
	}
	if r := post(t, api.BaseURL+"/api/v1/analytics/events", b, "application/json", "", []byte(`{"event":"other"}`)); r.Status != 202 {
		t.Fatalf("another user: %d %s", r.Status, r.Body)
	}
}

// Two API instances sharing Redis draw from one bucket per user.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { testenv.DeleteKeys(t, addr, "rate:"+prefix) })
	env := []string{"TIPBOX_REDIS_URL=redis://" + addr + "/0", "TIPBOX_HTTP_RATE_LIMIT_PREFIX=" + prefix,
		"TIPBOX_HTTP_RATE_LIMIT_RPS=1", "TIPBOX_HTTP_RATE_LIMIT_BURST=20"}
	apis := []*e2e.Proc{e2e.StartAPI(t, env), e2e.StartAPI(t, env)}
	for _, api := range apis {
		if !strings.Contains(api.Output(), "store=redis") {
			t.Fatalf("the instance does not use the redis store:\n%s", api.Output())
		}
	}
	tok := e2e.Token(t, 601, "")
	allowed := 0
	for i := range 40 {
		r := e2e.Do(t, "GET", apis[i%2].BaseURL+"/api/v1/badges", tok, "")
		switch r.Status {
		case 200:
			allowed++
		case 429:
		default:
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
	}
	// Alone, each instance would allow its own 20.
	if allowed > 24 {
		t.Fatalf("%d of 40 allowed across two instances with burst 20: the bucket is not shared", allowed)
	}
}

// env: production logs JSON, one object per line.
func TestProductionLogsAreJSON(t *testing.T) {
	t.Parallel()
	api := e2e.StartAPI(t, []string{"TIPBOX_ENV=production", "TIPBOX_AUTH_JWT_SECRET=" + strongSecret})
	api.Signal(os.Interrupt)
	if code := api.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, api.Output())
	}
	lines := 0
	for _, l := range strings.Split(strings.TrimSpace(api.Output()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		lines++
	}
	if lines < 3 {
		t.Fatalf("only %d log lines", lines)
	}
}

const strongSecret = "q3Jx9vN0bW2tK8sZ1eY4uR7aL5cH6dF0gP2mV9xB3nT8wQ1zE4yU7iO0pA5sD6f"

// Configurations that used to start and must not.
func TestConfigRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeFile(dir+"/bad.yaml", "cache: [1, 2]\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args, env []string
		want      string
	}{
		{[]string{"--config", dir + "/bad.yaml"}, []string{"TIPBOX_CACHE_DRIVER=memory"}, "cache: want a mapping of keys, got a list"},
		{nil, []string{"TIPBOX_ENV=test"}, "auth.jwt_secret: the development secret is refused when env is \"test\""},
		{nil, []string{"TIPBOX_AUTH_LEEWAY=8760h"}, "auth.leeway: 8760h0m0s must be from 0s to 5m0s"},
		{nil, []string{"TIPBOX_AUTH_LEEWAY=-1h"}, "auth.leeway: -1h0m0s must be from 0s to 5m0s"},
		{nil, []string{"TIPBOX_ENV=production", "TIPBOX_AUTH_JWT_SECRET=" + strings.Repeat("a", 32)}, "estimated entropy 0 bits is below 128"},
		{nil, []string{"TIPBOX_HTTP_RATE_LIMIT_STORE=etcd"}, `http.rate_limit.store: "etcd" is not one of auto, memory, redis`},
	} {
		env := append([]string{fmt.Sprintf("TIPBOX_HTTP_ADDR=127.0.0.1:%d", testenv.FreePort(t))}, tc.env...)
		p := e2e.Start(t, dir, e2e.Binary(t, "api"), env, tc.args...)
		if code := p.Wait(20 * time.Second); code == 0 {
			t.Errorf("%v %v: exit code 0", tc.args, tc.env)
			continue
		}
		if !strings.Contains(p.Output(), tc.want) {
			t.Errorf("%v: output does not contain %q:\n%s", tc.env, tc.want, p.Output())
		}
	}
	// Development still starts with the dev secret, and says so loudly.
	api := e2e.StartAPI(t, nil)
	if !strings.Contains(api.Output(), "level=WARN") || !strings.Contains(api.Output(), "public development secret") {
		t.Fatalf("no warning about the development secret:\n%s", api.Output())
	}
}

// http.admin_addr serves /metrics and pprof on a second listener.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	api := e2e.StartAPI(t, []string{"TIPBOX_HTTP_ADMIN_ADDR=" + admin})
	e2e.Do(t, "GET", api.BaseURL+"/healthz", "", "")
	r := e2e.Do(t, "GET", "http://"+admin+"/metrics", "", "")
	if r.Status != 200 || !strings.Contains(string(r.Body), `tipbox_http_requests_total{method="GET",route="/healthz",server="api",status="200"}`) {
		t.Fatalf("admin /metrics: %d\n%s", r.Status, r.Body)
	}
	r = e2e.Do(t, "GET", "http://"+admin+"/debug/pprof/", "", "")
	if r.Status != 200 || !strings.Contains(string(r.Body), "goroutine") {
		t.Fatalf("admin pprof index: %d %s", r.Status, r.Body)
	}
	r = e2e.Do(t, "GET", "http://"+admin+"/debug/pprof/heap?debug=1", "", "")
	if r.Status != 200 || !strings.Contains(string(r.Body), "heap profile") {
		t.Fatalf("admin heap profile: %d", r.Status)
	}
	// pprof is not on the public port.
	if r := e2e.Do(t, "GET", api.BaseURL+"/debug/pprof/", "", ""); r.Status != 404 {
		t.Fatalf("public pprof: %d", r.Status)
	}
}
