package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decode[T any](t *testing.T, r e2e.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return v
}

func wantError(t *testing.T, r e2e.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	e := decode[errBody](t, r)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error body %s, want code %q and a message", r.Body, code)
	}
}

// The walk-through: fresh start of the embedded profile, an admin
// creates a user, the user reads and patches its profile, others cannot.
func TestEmbeddedProfileEndToEnd(t *testing.T) {
	t.Parallel()
	// A small body limit, so the 413 case fits in the socket buffers: the
	// server answers 413 and closes before reading the rest of the body.
	api := e2e.StartAPI(t, []string{"TIPBOX_HTTP_BODY_LIMIT=16384"})
	admin := e2e.Token(t, 1000, "admin")

	r := e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"ayse","email":"ayse@example.com","displayName":"Ayşe"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	created := decode[map[string]any](t, r)
	id := int64(created["id"].(float64))
	user := e2e.Token(t, id, "")
	other := e2e.Token(t, id+1, "")

	r = e2e.Do(t, "GET", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), user, "")
	if r.Status != 200 || r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first get: %d X-Cache=%q %s", r.Status, r.Header.Get("X-Cache"), r.Body)
	}
	// The profile carries the email: not for caches, not to be sniffed.
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("profile headers: %v", r.Header)
	}
	// Who created whom is in the audit log.
	wantAudit := fmt.Sprintf(`msg=audit service=tipbox component=audit server=api audit.actor=user:1000 audit.role=admin audit.action=user.create audit.target=user:%d audit.status=201`, id)
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(api.Output(), wantAudit) }, "no audit line %s", wantAudit)
	p := decode[map[string]any](t, r)
	if p["username"] != "ayse" || p["email"] != "ayse@example.com" || p["badgeCount"] != float64(0) {
		t.Fatalf("profile %s", r.Body)
	}
	r = e2e.Do(t, "GET", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), user, "")
	if r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("second get X-Cache=%q", r.Header.Get("X-Cache"))
	}
	// Another user sees the profile without the email.
	r = e2e.Do(t, "GET", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), other, "")
	if p := decode[map[string]any](t, r); r.Status != 200 || p["email"] != nil {
		t.Fatalf("other's view: %d %s", r.Status, r.Body)
	}

	r = e2e.Do(t, "PATCH", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), user, `{"bio":"merhaba"}`)
	if p := decode[map[string]any](t, r); r.Status != 200 || p["bio"] != "merhaba" {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	// The update invalidated the cache: the next read is a MISS with the new bio.
	r = e2e.Do(t, "GET", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), user, "")
	if p := decode[map[string]any](t, r); r.Header.Get("X-Cache") != "MISS" || p["bio"] != "merhaba" {
		t.Fatalf("after patch: X-Cache=%q %s", r.Header.Get("X-Cache"), r.Body)
	}

	wantError(t, e2e.Do(t, "PATCH", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), other, `{"bio":"x"}`), 403, "forbidden")
	wantError(t, e2e.Do(t, "GET", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), "", ""), 401, "unauthorized")
	wantError(t, e2e.Do(t, "GET", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), "not-a-jwt", ""), 401, "unauthorized")
	wantError(t, e2e.Do(t, "PATCH", fmt.Sprintf("%s/api/v1/users/%d/profile", api.BaseURL, id), user, `{"bio":`), 400, "bad_request")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", user, `{"username":"zed","email":"z@example.com"}`), 403, "forbidden")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"AYSE","email":"other@example.com"}`), 409, "username_taken")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"x","email":"x@example.com"}`), 400, "invalid_username")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"xyz","email":"nope"}`), 400, "invalid_email")
	wantError(t, e2e.Do(t, "GET", api.BaseURL+"/api/v1/users/999999/profile", user, ""), 404, "user_not_found")
	wantError(t, post(t, api.BaseURL+"/api/v1/users", admin, "text/plain", "", []byte(`{"username":"tp","email":"tp@example.com"}`)), 415, "unsupported_media_type")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"dup","username":"dup2","email":"d@example.com"}`), 400, "bad_request")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"ctl","email":"c@example.com","displayName":"a\u001b[31m"}`), 400, "invalid_displayName")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"lit","email":"a@[127.0.0.1]"}`), 400, "invalid_email")
	if r := e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":7,"email":"x@example.com"}`); strings.Contains(string(r.Body), "createRequest") || strings.Contains(string(r.Body), "Go ") {
		t.Fatalf("a 400 leaks a Go type: %s", r.Body)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/nowhere/<b>x</b>", "", ""); r.Status != 404 || strings.Contains(string(r.Body), "nowhere") {
		t.Fatalf("404 echoes the path: %d %s", r.Status, r.Body)
	}
	wantError(t, e2e.Do(t, "GET", api.BaseURL+"/api/v1/users/abc/profile", user, ""), 400, "bad_request")
	wantError(t, e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"big","email":"b@example.com","bio":"`+strings.Repeat("x", 20000)+`"}`), 413, "too_large")

	r = e2e.Do(t, "GET", api.BaseURL+"/readyz", "", "")
	if ready := decode[map[string]string](t, r); r.Status != 200 || len(ready) != 3 || ready["database"] != "up" || ready["cache"] != "up" || ready["queue"] != "up" {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}
	r = e2e.Do(t, "GET", api.BaseURL+"/metrics", "", "")
	if !strings.Contains(string(r.Body), `tipbox_http_requests_total{method="GET",route="/api/v1/users/:id/profile",server="api",status="200"}`) {
		t.Fatalf("metrics lack the profile route:\n%s", r.Body)
	}

	// Graceful stop on SIGTERM: exit code 0.
	api.Signal(syscall.SIGTERM)
	if code := api.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, api.Output())
	}
	// Stop order: HTTP server, then workers, then the cache.
	out, last := api.Output(), -1
	for _, msg := range []string{"http server stopped", "queue worker stopped", "cache store closing"} {
		i := strings.Index(out, msg)
		if i < last {
			t.Fatalf("shutdown order: %q is not after the previous step\n%s", msg, out)
		}
		last = i
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A profile that warms connections at start: a migration run opens none.
	p := e2e.Start(t, dir, e2e.Binary(t, "api"), []string{"TIPBOX_DATABASE_AUTO_MIGRATE=false", "TIPBOX_DATABASE_WARM_CONNS=3"}, "migrate")
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("migrate exit %d\n%s", code, p.Output())
	}
	for _, want := range []string{"migrations applied", `module=user version=1`, `module=gamification version=1`} {
		if !strings.Contains(p.Output(), want) {
			t.Fatalf("migrate output lacks %q:\n%s", want, p.Output())
		}
	}
	if strings.Contains(p.Output(), "connections warmed") {
		t.Fatalf("migrate warmed connections:\n%s", p.Output())
	}
	// A second run has nothing to do and still succeeds.
	p = e2e.Start(t, dir, e2e.Binary(t, "api"), nil, "migrate")
	if code := p.Wait(30 * time.Second); code != 0 || strings.Contains(p.Output(), "migration applied") {
		t.Fatalf("second migrate exit %d\n%s", code, p.Output())
	}
}

func TestPortTakenFailsTheStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := e2e.Start(t, t.TempDir(), e2e.Binary(t, "api"), []string{"TIPBOX_HTTP_ADDR=" + ln.Addr().String()})
	if code := p.Wait(20 * time.Second); code == 0 {
		t.Fatalf("exit code 0 with the port taken")
	}
	last := e2e.LastLine(p.Output())
	if !strings.HasPrefix(last, "tipbox-api: ") || !strings.Contains(last, "cannot listen on "+ln.Addr().String()) || !strings.Contains(last, "address already in use") {
		t.Fatalf("last line %q does not say why", last)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"TIPBOX_CACHE_DRIVER=mongo"}, `cache.driver: "mongo" is not one of`},
		{[]string{"TIPBOX_HTTP_ADDR=nonsense"}, `http.addr: "nonsense" is not host:port`},
		{[]string{"TIPBOX_CACHE_DEFAULT_TTL=soon"}, `cache.default_ttl: cannot use "soon": want a duration`},
		{[]string{"TIPBOX_HTTP_COLOUR=red"}, "TIPBOX_HTTP_COLOUR does not name a config key"},
		{[]string{"TIPBOX_ENV=production"}, "auth.jwt_secret: the development secret is refused"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			env := append([]string{fmt.Sprintf("TIPBOX_HTTP_ADDR=127.0.0.1:%d", testenv.FreePort(t))}, tc.env...)
			if tc.env[0] == "TIPBOX_HTTP_ADDR=nonsense" {
				env = tc.env
			}
			p := e2e.Start(t, t.TempDir(), e2e.Binary(t, "api"), env)
			if code := p.Wait(20 * time.Second); code != 2 {
				t.Fatalf("exit code %d with %v, want 2 (a configuration error)", code, tc.env)
			}
			if !strings.Contains(p.Output(), tc.want) {
				t.Fatalf("output does not contain %q:\n%s", tc.want, p.Output())
			}
		})
	}
}

// An unknown driver name is one line on stderr: the key, the value and the
// drivers there are, not fx's chain of constructors, which is not logged
// either at the default level (the log lines are the subsystems' "opened"
// lines only).
func TestUnknownDriverIsOneLine(t *testing.T) {
	t.Parallel()
	env := []string{fmt.Sprintf("TIPBOX_HTTP_ADDR=127.0.0.1:%d", testenv.FreePort(t)), "TIPBOX_CACHE_DRIVER=mongo"}
	p := e2e.Start(t, t.TempDir(), e2e.Binary(t, "api"), env)
	if code := p.Wait(20 * time.Second); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	const want = `tipbox-api: cache.driver: "mongo" is not one of memory, none, redis, tiered`
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(p.Output()), "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "failed to build") || strings.Contains(l, "could not build") {
			t.Errorf("the failure is logged with fx's chain: %s", l)
		}
		if !strings.HasPrefix(l, "time=") && !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("output lines %q, want exactly %q", lines, want)
	}
}

func TestUnknownKeyInProfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dir + "/bad.yaml"
	if err := writeFile(path, "http:\n  adr: \":1\"\n"); err != nil {
		t.Fatal(err)
	}
	p := e2e.Start(t, dir, e2e.Binary(t, "api"), nil, "--config", path)
	if code := p.Wait(20 * time.Second); code == 0 {
		t.Fatal("exit code 0")
	}
	if !strings.Contains(p.Output(), "unknown key http.adr (allowed under http: addr,") {
		t.Fatalf("output:\n%s", p.Output())
	}
}
