package httpserver_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
)

// bomb compresses n zero bytes with the named coding.
func bomb(t testing.TB, coding string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch coding {
	case "gzip":
		w, err = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case "br":
		w, err = brotli.NewWriter(&buf, 9)
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	}
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
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

type testServer struct {
	*httpserver.Server
	reg  *prometheus.Registry
	logs *syncBuilder
	v    *auth.Verifier
}

type syncBuilder struct {
	mu chan struct{}
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

func newHardened(t *testing.T, cfg httpserver.Config, routes []httpserver.Routes, opts ...httpserver.Option) *testServer {
	t.Helper()
	logs := &syncBuilder{mu: make(chan struct{}, 1)}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reg := prometheus.NewRegistry()
	v, err := auth.NewVerifier(auth.Config{JWTSecret: strings.Repeat("s", 32)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := httpserver.New("test", cfg, log, reg, reg, health.NewRegistry(nil, 0), routes, append([]httpserver.Option{httpserver.WithAuth(v)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, reg: reg, logs: logs, v: v}
}

func (s *testServer) start(t *testing.T) string {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s.Addr().String()
}

func (s *testServer) token(t *testing.T, id int64, role string) string {
	t.Helper()
	tok, err := s.v.Issue(id, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// echo reads the body as a handler would (c.Body() decompresses).
func echo(v *auth.Verifier) httpserver.Endpoints {
	return httpserver.EndpointsFunc(func() []httpserver.Route {
		return []httpserver.Route{{Method: "POST", Path: "/api/v1/echo", Access: v.SignedIn(), Handler: func(c *fiber.Ctx) error {
			return c.JSON(fiber.Map{"bytes": len(c.Body())})
		}}}
	})
}

// A compressed body is limited after decompression too, for every coding
// the server accepts; other codings are refused.
func TestCompressedBodyLimitedAfterDecompression(t *testing.T) {
	t.Parallel()
	s := newHardened(t, httpserver.Config{BodyLimit: 64 << 10}, nil)
	s2 := newHardened(t, httpserver.Config{BodyLimit: 64 << 10}, nil, httpserver.WithEndpoints(echo(s.v)))
	_ = s
	tok := s2.token(t, 1, auth.RoleUser)
	send := func(coding string, body []byte) (int, string) {
		req := httptest.NewRequest("POST", "/api/v1/echo", bytes.NewReader(body))
		req.Header.Set("Content-Encoding", coding)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s2.App().Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, coding := range []string{"gzip", "br", "zstd"} {
		if st, b := send(coding, bomb(t, coding, 32<<20)); st != 413 || !strings.Contains(b, `"code":"too_large"`) {
			t.Errorf("%s bomb: %d %s", coding, st, b)
		}
		if st, b := send(coding, bomb(t, coding, 1000)); st != 200 || b != `{"bytes":1000}` {
			t.Errorf("%s small body: %d %s", coding, st, b)
		}
	}
	if st, b := send("compress", []byte("x")); st != 415 || !strings.Contains(b, `"code":"unsupported_media_type"`) {
		t.Errorf("unknown coding: %d %s", st, b)
	}
	if st, b := send("gzip, br", bomb(t, "gzip", 10)); st != 415 {
		t.Errorf("stacked codings: %d %s", st, b)
	}
	if st, b := send("gzip", []byte("not gzip")); st != 400 {
		t.Errorf("corrupt gzip: %d %s", st, b)
	}
}

// rawRequest sends a hand-written request and returns the status line,
// headers and body.
func rawRequest(t *testing.T, addr, req string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Every response has nosniff and the JSON error format, the 404 does not
// echo the path, and statuses produced before any route ran are counted.
func TestEveryErrorPathHasHeadersFormatAndMetrics(t *testing.T) {
	t.Parallel()
	s := newHardened(t, httpserver.Config{BodyLimit: 2048}, nil)
	addr := s.start(t)
	cases := []struct {
		name, req string
		status    int
		code      string
	}{
		{"ok", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, ""},
		{"404", "GET /<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"},
		{"bad method", "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"},
		{"413", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + strings.Repeat("x", 4096), 413, "too_large"},
		{"431", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("y", 16<<10) + "\r\n\r\n", 431, "request_header_fields_too_large"},
	}
	for _, tc := range cases {
		st, h, body := rawRequest(t, addr, tc.req)
		if st != tc.status || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d nosniff=%q %s", tc.name, st, h.Get("X-Content-Type-Options"), body)
			continue
		}
		if tc.code != "" && (!strings.Contains(body, `"code":"`+tc.code+`"`) || !strings.HasPrefix(h.Get("Content-Type"), "application/json")) {
			t.Errorf("%s: body %s, content type %q", tc.name, body, h.Get("Content-Type"))
		}
		if strings.Contains(body, "script") {
			t.Errorf("%s: body echoes the path: %s", tc.name, body)
		}
	}
	for _, st := range []string{"404", "501", "413", "431"} {
		n := 0.0
		mfs, _ := s.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "tipbox_http_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "status" && l.GetValue() == st {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
		if n != 1 {
			t.Errorf("status %s counted %v times, want 1", st, n)
		}
	}
}

// A route registered the careless way (no auth of its own) before a
// module's group middleware is still behind a token, and a route that
// declares no Access stops the server from being built.
func TestAuthDoesNotDependOnRegistrationOrder(t *testing.T) {
	t.Parallel()
	careless := httpserver.RoutesFunc(func(r fiber.Router) {
		r.Get("/api/v1/users/:id/secret", func(c *fiber.Ctx) error { return c.SendString("secret") })
	})
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		s := newHardened(t, httpserver.Config{}, nil)
		careful := httpserver.RoutesFunc(func(r fiber.Router) {
			g := r.Group("/api/v1/users", s.v.Required())
			g.Get("/:id/profile", func(c *fiber.Ctx) error { return c.SendString("profile") })
		})
		both := []httpserver.Routes{careless, careful}
		s = newHardened(t, httpserver.Config{}, []httpserver.Routes{both[order[0]], both[order[1]]})
		for _, path := range []string{"/api/v1/users/1/secret", "/API/v1/users/1/secret", "/api/v1/users/1/profile"} {
			resp, err := s.App().Test(httptest.NewRequest("GET", path, nil))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 401 {
				t.Errorf("order %v: GET %s without a token: %d", order, path, resp.StatusCode)
			}
		}
	}
	reg := prometheus.NewRegistry()
	_, err := httpserver.New("test", httpserver.Config{}, slog.New(slog.DiscardHandler), reg, reg, health.NewRegistry(nil, 0), nil,
		httpserver.WithEndpoints(httpserver.EndpointsFunc(func() []httpserver.Route {
			return []httpserver.Route{{Method: "GET", Path: "/api/v1/forgot", Handler: func(c *fiber.Ctx) error { return nil }}}
		})))
	if err == nil || !strings.Contains(err.Error(), "GET /api/v1/forgot declares no Access") {
		t.Fatalf("undeclared access: %v", err)
	}
}

// Public routes, even under /api, need no token; every /api answer is
// not cacheable (a public one may carry a credential in its path, e.g. an
// unsubscribe link); a route outside /api keeps its own caching.
func TestPublicRoutesAndNoStore(t *testing.T) {
	t.Parallel()
	s0 := newHardened(t, httpserver.Config{}, nil)
	s := newHardened(t, httpserver.Config{}, nil, httpserver.WithEndpoints(httpserver.EndpointsFunc(func() []httpserver.Route {
		ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
		return []httpserver.Route{
			{Method: "GET", Path: "/api/v1/open", Access: auth.Public(), Handler: ok},
			{Method: "GET", Path: "/open", Access: auth.Public(), Handler: ok},
			{Method: "GET", Path: "/api/v1/closed", Access: s0.v.SignedIn(), Handler: ok},
		}
	})))
	tok := s0.token(t, 3, auth.RoleUser)
	for _, tc := range []struct {
		path, token string
		status      int
		noStore     bool
	}{
		{"/api/v1/open", "", 200, true},
		{"/open", "", 200, false},
		{"/api/v1/closed", "", 401, true},
		{"/api/v1/closed", tok + "x", 401, true},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, _ := s.App().Test(req)
		if resp.StatusCode != tc.status || (resp.Header.Get("Cache-Control") == "no-store") != tc.noStore {
			t.Errorf("%s: %d Cache-Control=%q", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	req := httptest.NewRequest("GET", "/api/v1/closed", nil)
	req.Header.Set("Authorization", "Bearer "+s.token(t, 3, auth.RoleUser))
	resp, _ := s.App().Test(req)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("signed in: %d Cache-Control=%q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

// One caller over its limit gets 429 with Retry-After and rate_limited;
// another caller is unaffected; limits off means off.
func TestRateLimitPerCaller(t *testing.T) {
	t.Parallel()
	one := 1
	five := 5
	base := newHardened(t, httpserver.Config{}, nil)
	s := newHardened(t, httpserver.Config{RateLimit: httpserver.RateLimitConfig{RPS: &one, Burst: &five}}, nil,
		httpserver.WithEndpoints(echo(base.v)))
	a, b := s.token(t, 10, auth.RoleUser), s.token(t, 11, auth.RoleUser)
	post := func(tok string) *http.Response {
		req := httptest.NewRequest("POST", "/api/v1/echo", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := s.App().Test(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	limited := 0
	for range 20 {
		resp := post(a)
		if resp.StatusCode == 429 {
			limited++
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if e := errorOf(t, resp.Body); err != nil || ra < 1 || e.Code != "rate_limited" {
				t.Fatalf("429 without Retry-After or code: %q %+v", resp.Header.Get("Retry-After"), e)
			}
		}
	}
	if limited < 14 {
		t.Fatalf("%d of 20 requests limited, want at least 14 (burst 5, 1/s)", limited)
	}
	if resp := post(b); resp.StatusCode == 429 {
		t.Fatal("another user was limited")
	}
	// Anonymous callers are limited by IP (app.Test uses 0.0.0.0).
	anon := 0
	for range 10 {
		if post("").StatusCode == 429 {
			anon++
		}
	}
	if anon < 4 {
		t.Fatalf("anonymous: %d of 10 limited", anon)
	}
	zero := 0
	off := newHardened(t, httpserver.Config{RateLimit: httpserver.RateLimitConfig{RPS: &zero}}, nil)
	for range 300 {
		resp, _ := off.App().Test(httptest.NewRequest("GET", "/nowhere", nil))
		if resp.StatusCode == 429 {
			t.Fatal("rate_limit.rps 0 still limits")
		}
	}
}

// callerRoutes are raw routes whose requests name their user in ?as=,
// and are paced by the server with ?paced=1.
type callerRoutes struct{ httpserver.RoutesFunc }

func (callerRoutes) RateCaller(c *fiber.Ctx) httpserver.Caller {
	id, _ := strconv.ParseInt(c.Query("as"), 10, 64)
	return httpserver.Caller{UserID: id, Paced: c.Query("paced") == "1"}
}

// Raw routes are limited like declared ones, whatever way they register
// (route, group, middleware), each request once even where the /api guard
// limits it too; a CallerRoutes names the user of a request without a
// bearer token, which then has its own bucket, or a request it paces,
// which is not counted.
func TestRateLimitRawRoutes(t *testing.T) {
	t.Parallel()
	one, five := 1, 5
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	raw := callerRoutes{func(r fiber.Router) {
		r.Get("/raw", ok)
		r.Get("/api/v1/raw", ok)
		r.Group("/grp", func(c *fiber.Ctx) error { return c.Next() }).Get("/x", ok)
		r.Use("/mw", func(c *fiber.Ctx) error { return c.SendString("mw") })
	}}
	get := func(s *testServer, path, tok string) int {
		req := httptest.NewRequest("GET", path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := s.App().Test(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 429 {
			if e := errorOf(t, resp.Body); resp.Header.Get("Retry-After") == "" || e.Code != "rate_limited" {
				t.Fatalf("%s: 429 without Retry-After or code: %+v", path, e)
			}
		}
		return resp.StatusCode
	}
	for _, path := range []string{"/raw", "/grp/x", "/mw", "/raw?as=5"} {
		s := newHardened(t, httpserver.Config{RateLimit: httpserver.RateLimitConfig{RPS: &one, Burst: &five}}, []httpserver.Routes{raw})
		limited := 0
		for range 20 {
			if get(s, path, "") == 429 {
				limited++
			}
		}
		if limited < 14 {
			t.Errorf("%s: %d of 20 requests limited, want at least 14 (burst 5, 1/s)", path, limited)
		}
		if path != "/raw" {
			continue
		}
		// The IP is spent: a caller the routes name, or a bearer token, has
		// its own bucket. A raw route under /api also passes the guard's
		// limit, and counts once: 5 of 10 pass, not 2 or 3.
		if st := get(s, "/raw?as=6", ""); st != 200 {
			t.Errorf("/raw?as=6 after the IP's bucket was spent: %d", st)
		}
		for range 10 {
			if st := get(s, "/raw?paced=1", ""); st != 200 {
				t.Fatalf("/raw?paced=1 after the IP's bucket was spent: %d", st)
			}
		}
		tok := s.token(t, 7, auth.RoleUser)
		passed := 0
		for range 10 {
			if get(s, "/api/v1/raw", tok) == 200 {
				passed++
			}
		}
		if passed < 5 || passed > 8 {
			t.Errorf("/api/v1/raw: %d of 10 passed, want 5 (more if tokens came back meanwhile)", passed)
		}
	}
}

// Writes and admin actions leave one audit line: who, what, target,
// outcome.
func TestAuditLines(t *testing.T) {
	t.Parallel()
	base := newHardened(t, httpserver.Config{}, nil)
	s := newHardened(t, httpserver.Config{}, nil, httpserver.WithEndpoints(httpserver.EndpointsFunc(func() []httpserver.Route {
		return []httpserver.Route{
			{Method: "POST", Path: "/api/v1/things/:id/grant", Access: base.v.Role(auth.RoleAdmin), Action: "thing.grant",
				Handler: func(c *fiber.Ctx) error {
					httpserver.AuditTarget(c, "thing:"+c.Params("id")+" badge:3")
					return c.SendStatus(201)
				}},
			{Method: "GET", Path: "/api/v1/things/:id", Access: base.v.SignedIn(), Handler: func(c *fiber.Ctx) error { return c.SendString("x") }},
			{Method: "GET", Path: "/api/v1/admin/things/:id", Access: base.v.Role(auth.RoleAdmin), Handler: func(c *fiber.Ctx) error { return c.SendString("x") }},
		}
	})))
	do := func(method, path, tok string) {
		req := httptest.NewRequest(method, path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if _, err := s.App().Test(req); err != nil {
			t.Fatal(err)
		}
	}
	do("POST", "/api/v1/things/7/grant", s.token(t, 1, auth.RoleAdmin))
	do("POST", "/api/v1/things/8/grant", s.token(t, 2, auth.RoleUser))
	do("GET", "/api/v1/things/9", s.token(t, 2, auth.RoleUser))
	do("GET", "/api/v1/admin/things/5", s.token(t, 1, auth.RoleAdmin))
	logs := s.logs.String()
	for _, want := range []string{
		`msg=audit component=audit server=test audit.actor=user:1 audit.role=admin audit.action=thing.grant audit.target="thing:7 badge:3" audit.status=201 audit.ok=true`,
		`msg=audit component=audit server=test audit.actor=user:2 audit.role=user audit.action=thing.grant audit.target="id=8" audit.status=403 audit.ok=false`,
		`msg=audit component=audit server=test audit.actor=user:1 audit.role=admin audit.action="GET /api/v1/admin/things/:id" audit.target="id=5" audit.status=200`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no audit line %s in\n%s", want, logs)
		}
	}
	if strings.Contains(logs, `audit.target="id=9"`) {
		t.Errorf("a plain read was audited:\n%s", logs)
	}
	if n := strings.Count(logs, "msg=audit"); n != 3 {
		t.Errorf("%d audit lines, want 3", n)
	}
}
