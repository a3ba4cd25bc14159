package httpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
)

func newServer(t *testing.T, checks []health.Checker, routes ...httpserver.Routes) (*httpserver.Server, *strings.Builder) {
	t.Helper()
	logs := &strings.Builder{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reg := prometheus.NewRegistry()
	s, err := httpserver.New("test", httpserver.Config{Addr: "127.0.0.1:0", BodyLimit: 2048}, log, reg, reg,
		health.NewRegistry(checks, 0), routes)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

func errorOf(t *testing.T, body io.Reader) httpserver.ErrorDetail {
	t.Helper()
	var b httpserver.ErrorBody
	if err := json.NewDecoder(body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Error
}

func TestPanicIsA500WithoutDetails(t *testing.T) {
	t.Parallel()
	s, logs := newServer(t, nil, httpserver.RoutesFunc(func(r fiber.Router) {
		r.Get("/boom", func(*fiber.Ctx) error { panic("secret database password in panic") })
	}))
	resp, err := s.App().Test(httptest.NewRequest("GET", "/boom", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || strings.Contains(string(body), "secret") || !strings.Contains(string(body), `"code":"internal"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "secret database password in panic") || resp.Header.Get("X-Request-ID") == "" {
		t.Fatalf("panic not logged with request id:\n%s", logs.String())
	}
}

func TestErrorsAndRequestID(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, nil, httpserver.RoutesFunc(func(r fiber.Router) {
		r.Post("/teapot", func(*fiber.Ctx) error { return httpserver.Error(418, "teapot", "short and stout") })
	}))
	req := httptest.NewRequest("POST", "/teapot", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	resp, _ := s.App().Test(req)
	if e := errorOf(t, resp.Body); resp.StatusCode != 418 || e.Code != "teapot" || e.Message != "short and stout" {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	if resp.Header.Get("X-Request-ID") != "abc-123" {
		t.Fatalf("request id %q", resp.Header.Get("X-Request-ID"))
	}
	// An id that could inject into logs is replaced.
	req = httptest.NewRequest("POST", "/teapot", nil)
	req.Header.Set("X-Request-ID", "a b\"c")
	resp, _ = s.App().Test(req)
	if id := resp.Header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \"") {
		t.Fatalf("request id %q", id)
	}
	resp, _ = s.App().Test(httptest.NewRequest("GET", "/nowhere", nil))
	if e := errorOf(t, resp.Body); resp.StatusCode != 404 || e.Code != "not_found" {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	// The body limit is enforced by the listener, so test it on a real one.
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	resp, err := http.Post("http://"+s.Addr().String()+"/teapot", "text/plain", strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e := errorOf(t, resp.Body); resp.StatusCode != 413 || e.Code != "too_large" {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	down := func(context.Context) error { return io.ErrUnexpectedEOF }
	up := func(context.Context) error { return nil }
	s, _ := newServer(t, []health.Checker{{Name: "database", Critical: true, Check: up}, {Name: "cache", Check: down}})
	resp, _ := s.App().Test(httptest.NewRequest("GET", "/readyz", nil))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != `{"cache":"down","database":"up"}` {
		t.Fatalf("degraded: %d %s", resp.StatusCode, body)
	}
	s, _ = newServer(t, []health.Checker{{Name: "database", Critical: true, Check: down}})
	resp, _ = s.App().Test(httptest.NewRequest("GET", "/readyz", nil))
	if resp.StatusCode != 503 {
		t.Fatalf("database down: %d", resp.StatusCode)
	}
}

func TestStartFailsOnTakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reg := prometheus.NewRegistry()
	s, err := httpserver.New("test", httpserver.Config{Addr: ln.Addr().String()}, slog.New(slog.DiscardHandler), reg, reg, health.NewRegistry(nil, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot listen on "+ln.Addr().String()) {
		t.Fatalf("Start: %v", err)
	}
}

func TestUnlistedCheckerGatesReadinessOnly(t *testing.T) {
	t.Parallel()
	down := func(context.Context) error { return io.ErrUnexpectedEOF }
	up := func(context.Context) error { return nil }
	s, _ := newServer(t, []health.Checker{{Name: "database", Critical: true, Check: up}, {Name: "warmup", Critical: true, Unlisted: true, Check: down}})
	resp, _ := s.App().Test(httptest.NewRequest("GET", "/readyz", nil))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || string(body) != `{"database":"up"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
