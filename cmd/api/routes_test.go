package main_test

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/httpserver"
)

// apiServer builds cmd/api's application for the embedded profile (not
// started: the routes are mounted when the server is built) plus extra
// options, and returns its HTTP server.
func apiServer(t *testing.T, extra ...fx.Option) *httpserver.Server {
	t.Helper()
	src, err := app.LoadProfile("", configs.FS, configs.Default,
		[]string{"TIPBOX_DATABASE_DSN=file:" + t.TempDir() + "/routes.db"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := tipbox.API().Options(src)
	if err != nil {
		t.Fatal(err)
	}
	var s *httpserver.Server
	opts = append(opts, extra...)
	opts = append(opts, fx.Populate(&s), fx.NopLogger)
	if _, err := app.New(src, opts...); err != nil {
		t.Fatal(err)
	}
	return s
}

var param = regexp.MustCompile(`:[A-Za-z0-9_]+\??|\*|\+`)

// apiRoutes lists every route under /api that cmd/api registered, with
// its parameters filled in.
func apiRoutes(s *httpserver.Server) [][2]string {
	var out [][2]string
	for _, r := range s.App().GetRoutes(true) {
		if r.Path != "/api" && !strings.HasPrefix(r.Path, "/api/") || r.Method == fiber.MethodHead {
			continue
		}
		out = append(out, [2]string{r.Method, param.ReplaceAllString(r.Path, "1")})
	}
	return out
}

// publicAPI are the /api routes that take no bearer token, each with the
// status it answers for the request below and why it is public. Adding a
// public route means adding it here.
var publicAPI = map[string]int{
	// One-click unsubscribe links in emails: the signed token in the path
	// is the credential; "1" is not a valid one.
	"GET /api/v1/unsubscribe/1":  400,
	"POST /api/v1/unsubscribe/1": 400,
}

// Every /api route of the real program answers 401 without a token
// (except the listed public ones, which refuse a bad credential of their
// own), so a module that forgets to protect a route fails here.
func TestEveryAPIRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	s := apiServer(t)
	routes := apiRoutes(s)
	if len(routes) < 10 {
		t.Fatalf("only %d /api routes found: %v", len(routes), routes)
	}
	for _, r := range routes {
		resp, err := s.App().Test(httptest.NewRequest(r[0], r[1], strings.NewReader("{}")), 5000)
		if err != nil {
			t.Fatal(err)
		}
		want, public := publicAPI[r[0]+" "+r[1]]
		if !public {
			want = 401
		}
		if resp.StatusCode != want {
			t.Errorf("%s %s without a token: %d, want %d", r[0], r[1], resp.StatusCode, want)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: headers %v", r[0], r[1], resp.Header)
		}
	}
}

// A module added the careless way (a raw route with no auth of its own)
// is still behind a token: the server's guard on /api does not depend on
// the order modules register in.
func TestForgottenAuthIsStillGuarded(t *testing.T) {
	t.Parallel()
	careless := httpserver.AsRoutes(func() httpserver.Routes {
		return httpserver.RoutesFunc(func(r fiber.Router) {
			r.Get("/api/v1/users/:id/secret", func(c *fiber.Ctx) error { return c.SendString("secret") })
		})
	})
	for range 5 { // fx orders value groups at random
		s := apiServer(t, careless)
		found := false
		for _, r := range apiRoutes(s) {
			found = found || r[1] == "/api/v1/users/1/secret"
		}
		if !found {
			t.Fatal("the careless route is not registered")
		}
		resp, err := s.App().Test(httptest.NewRequest("GET", "/api/v1/users/1/secret", nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 401 {
			t.Fatalf("careless route without a token: %d", resp.StatusCode)
		}
	}
}
