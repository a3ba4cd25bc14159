package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/internal/testenv"
	"github.com/tipbox/tipbox/modules/user"
)

const benchUsers = 1000

type server struct {
	base   string
	tokens []string
	ids    []int64
	stop   func()
}

// startApp runs the real API (tipbox.API) in process with the given
// cache driver and database, with benchUsers users.
func startApp(b *testing.B, cacheDriver, db string) *server {
	b.Helper()
	dsn := "file:" + filepath.Join(b.TempDir(), "bench.db")
	driver := "sqlite"
	if db == "postgres" {
		driver, dsn = "postgres", testenv.PostgresDSN(b)
	}
	env := []string{
		"TIPBOX_HTTP_ADDR=127.0.0.1:0", "TIPBOX_LOG_LEVEL=error",
		"TIPBOX_DATABASE_DRIVER=" + driver, "TIPBOX_DATABASE_DSN=" + dsn,
		"TIPBOX_CACHE_DRIVER=" + cacheDriver,
		// A benchmark is one caller at full speed: no rate limit, and a
		// secret of its own (env test refuses the development one).
		"TIPBOX_HTTP_RATE_LIMIT_RPS=0", "TIPBOX_AUTH_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123",
	}
	if cacheDriver == "redis-dead" {
		// A Redis that was there and died: the breaker must make it free.
		rs := testenv.StartRedis(b)
		rs.Kill()
		env[len(env)-1] = "TIPBOX_CACHE_DRIVER=redis"
		env = append(env, "REDIS_URL=redis://"+rs.Addr()+"/0")
	}
	if cacheDriver == "redis" || cacheDriver == "tiered" {
		prefix := testenv.Prefix(b)
		b.Cleanup(func() { testenv.DeleteKeys(b, testenv.RedisAddr(b), prefix) })
		env = append(env, "REDIS_URL=redis://"+testenv.RedisAddr(b)+"/0", "TIPBOX_CACHE_REDIS_PREFIX="+prefix)
		if cacheDriver == "tiered" {
			env = append(env, "TIPBOX_CACHE_TIERED_PREFIX="+prefix)
		}
	}
	src, err := config.Parse("bench", []byte("env: test\n"), env)
	if err != nil {
		b.Fatal(err)
	}
	opts, err := tipbox.API().Options(src)
	if err != nil {
		b.Fatal(err)
	}
	var srv *httpserver.Server
	var svc *user.Service
	var v *auth.Verifier
	// No logs: a benchmark's output is parsed line by line, and the breaker's
	// one "cache unavailable" error (redis-dead) would land inside a result.
	opts = append(opts, fx.NopLogger, fx.Decorate(func() *slog.Logger { return slog.New(slog.DiscardHandler) }),
		fx.Populate(&srv, &svc, &v),
		httpserver.AsRoutes(func() httpserver.Routes {
			return httpserver.RoutesFunc(func(r fiber.Router) {
				r.Get("/bench/trivial", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) })
			})
		}))
	a, err := app.New(src, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	s := &server{base: "http://" + srv.Addr().String(), stop: func() { _ = a.Stop(ctx) }}
	for i := range benchUsers {
		u, err := svc.Create(ctx, user.User{Username: fmt.Sprintf("bench%04d", i), Email: fmt.Sprintf("b%d@example.com", i), Bio: strings.Repeat("b", 120)})
		if err != nil {
			b.Fatal(err)
		}
		tok, _ := v.Issue(u.ID, auth.RoleUser, time.Hour)
		s.ids = append(s.ids, u.ID)
		s.tokens = append(s.tokens, "Bearer "+tok)
	}
	b.Cleanup(s.stop)
	return s
}

// drive sends GETs from b.RunParallel workers and reports req/s and p99.
func drive(b *testing.B, s *server, path func(i int) string) {
	client := &fasthttp.Client{MaxConnsPerHost: 512, ReadTimeout: 10 * time.Second}
	// Warm every path once so the measured loop is the steady state.
	for i := range s.ids {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(s.base + path(i))
		req.Header.Set("Authorization", s.tokens[i])
		_ = client.Do(req, resp)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	var failed atomic.Int64
	lat := make(chan []time.Duration, 64)
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			i := r.IntN(len(s.ids))
			req.SetRequestURI(s.base + path(i))
			req.Header.Set("Authorization", s.tokens[i])
			t0 := time.Now()
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				failed.Add(1)
			}
			mine = append(mine, time.Since(t0))
		}
		lat <- mine
	})
	elapsed := time.Since(start)
	b.StopTimer()
	close(lat)
	var all []time.Duration
	for l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkTrivialRoute is the ceiling: a constant JSON route on the same
// server and middleware, no auth, no cache, no database.
func BenchmarkTrivialRoute(b *testing.B) {
	s := startApp(b, "memory", "sqlite")
	drive(b, s, func(int) string { return "/bench/trivial" })
}

// BenchmarkProfileGET measures GET /api/v1/users/{id}/profile over 1000
// users (all cached after the warm-up pass, except with cache none, and
// redis-dead: a Redis killed before the start, which the breaker bypasses).
func BenchmarkProfileGET(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, c := range []string{"none", "memory", "redis", "tiered", "redis-dead"} {
			b.Run(db+"/"+c, func(b *testing.B) {
				s := startApp(b, c, db)
				drive(b, s, func(i int) string { return fmt.Sprintf("/api/v1/users/%d/profile", s.ids[i]) })
			})
		}
	}
}
