package user_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/tipbox/tipbox/adapters/cache/memory"
	rediscache "github.com/tipbox/tipbox/adapters/cache/redis"
	"github.com/tipbox/tipbox/adapters/cache/tiered"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/internal/testenv"
	"github.com/tipbox/tipbox/modules/user"
)

// readServer is the API's HTTP stack (the server's middleware, the /api
// guard, the user routes) over an in-process cache and SQLite, served
// without sockets: what a request costs the server's CPU, and nothing of
// the kernel's.
type readServer struct {
	handler fasthttp.RequestHandler
	svc     *user.Service
	id      int64
	owner   string // "Bearer …" of the profile's user
	other   string // another user's
	admin   string
}

// newReadServer serves with the cache store c (nil: a memory store).
func newReadServer(tb testing.TB, c cache.Store) *readServer {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := user.NewSQLStore(openMigrated(tb, sqlite.Open, "file:"+filepath.Join(tb.TempDir(), "users.db")))
	if c == nil {
		mem, err := memory.New(memory.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		c = mem
	}
	tb.Cleanup(func() { c.Close() })
	reg := prometheus.NewRegistry()
	cm, err := cache.NewMetrics(reg)
	if err != nil {
		tb.Fatal(err)
	}
	svc := user.NewService(store, user.NewProfileCache(c, cache.Config{}, log, cm), nil, log)
	v, err := auth.NewVerifier(auth.Config{JWTSecret: strings.Repeat("k", 32)}, false)
	if err != nil {
		tb.Fatal(err)
	}
	rps := 0
	s, err := httpserver.New("api", httpserver.Config{Addr: "127.0.0.1:0", RateLimit: httpserver.RateLimitConfig{RPS: &rps}},
		log, reg, reg, health.NewRegistry(nil, 0), nil,
		httpserver.WithAuth(v), httpserver.WithEndpoints(user.NewRoutes(svc, v)))
	if err != nil {
		tb.Fatal(err)
	}
	u, err := svc.Create(context.Background(), user.User{Username: "reader", Email: "reader@example.com", Bio: strings.Repeat("b", 120)})
	if err != nil {
		tb.Fatal(err)
	}
	owner, _ := v.Issue(u.ID, auth.RoleUser, time.Hour)
	other, _ := v.Issue(u.ID+1, auth.RoleUser, time.Hour)
	admin, _ := v.Issue(u.ID+2, auth.RoleAdmin, time.Hour)
	return &readServer{handler: s.App().Handler(), svc: svc, id: u.ID,
		owner: "Bearer " + owner, other: "Bearer " + other, admin: "Bearer " + admin}
}

// serve runs one GET through the server and returns its response (valid
// until the next call).
func (r *readServer) serve(ctx *fasthttp.RequestCtx, path, authorization string) *fasthttp.Response {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI(path)
	if authorization != "" {
		ctx.Request.Header.Set("Authorization", authorization)
	}
	r.handler(ctx)
	return &ctx.Response
}

// processCPU is the CPU time this process has used (user + system).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newRequestCtx() *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return &ctx
}

// BenchmarkReadPath is the server's CPU per request for the routes the
// end-to-end reads figure compares: /healthz, and the cached profile read
// by its own user and by another user (who gets it without the email),
// over each cache driver: memory (the embedded profile), tiered (an L1 hit),
// redis (one round trip to a redis-server of the benchmark's own, on
// loopback) and redis-tracking (the redis profile's setting: a hit on the
// client-side cache, no round trip).
// go test -run '^$' -bench ReadPath -count 6 ./modules/user/
func BenchmarkReadPath(b *testing.B) {
	for _, driver := range []string{"memory", "tiered", "redis", "redis-tracking"} {
		b.Run(driver, func(b *testing.B) { benchReadPath(b, benchStore(b, driver)) })
	}
}

// benchStore opens the cache driver over a redis-server of its own (nil
// for memory: newReadServer's default).
func benchStore(b *testing.B, driver string) cache.Store {
	if driver == "memory" {
		return nil
	}
	conn := redisconn.Config{URL: "redis://" + testenv.StartRedis(b).Addr() + "/0"}
	var s cache.Store
	var err error
	switch driver {
	case "tiered":
		var ts *tiered.Store
		ts, err = tiered.New(tiered.Config{}, conn, nil)
		if err == nil {
			testenv.Eventually(b, 5*time.Second, ts.Live, "tiered: subscription not live")
		}
		s = ts
	case "redis":
		s, err = rediscache.New(rediscache.Config{}, conn)
	case "redis-tracking":
		s, err = rediscache.New(rediscache.Config{ClientCacheEntries: 10000}, conn)
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchReadPath(b *testing.B, store cache.Store) {
	s := newReadServer(b, store)
	profile := "/api/v1/users/" + strconv.FormatInt(s.id, 10) + "/profile"
	for _, c := range []struct{ name, path, auth string }{
		{"healthz", "/healthz", ""},
		{"profile-own", profile, s.owner},
		{"profile-other", profile, s.other},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := newRequestCtx()
			s.serve(ctx, c.path, c.auth) // the miss that fills the cache
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				resp := s.serve(ctx, c.path, c.auth)
				if resp.StatusCode() != 200 {
					b.Fatalf("%s: %d %s", c.path, resp.StatusCode(), resp.Body())
				}
				if string(resp.Header.Peek("X-Cache")) != "HIT" && c.name != "healthz" {
					b.Fatalf("%s: X-Cache %s", c.path, resp.Header.Peek("X-Cache"))
				}
			}
			// The process's CPU (user + system) per request: over Redis,
			// ns/op is mostly waiting for the reply.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// The profile read answers from bytes kept with the cache entry: they must
// be exactly what encoding the profile gives (with the email for the user
// and admins only), with the same headers, over an in-process store (the
// kept bytes are reused) and over Redis (decoded on every read), and an
// update must reach both answers.
func TestProfileAnswers(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var store cache.Store
			if name == "redis" {
				addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
				t.Cleanup(func() { testenv.DeleteKeys(t, addr, prefix) })
				rs, err := rediscache.New(rediscache.Config{Prefix: prefix}, redisconn.Config{URL: "redis://" + addr + "/0"})
				if err != nil {
					t.Fatal(err)
				}
				store = rs
			}
			s := newReadServer(t, store)
			path := "/api/v1/users/" + strconv.FormatInt(s.id, 10) + "/profile"
			ctx := newRequestCtx()
			check := func(authorization, wantCache string, withEmail bool) {
				t.Helper()
				resp := s.serve(ctx, path, authorization)
				p, _, err := s.svc.Profile(context.Background(), s.id)
				if err != nil {
					t.Fatal(err)
				}
				if !withEmail {
					p.Email = ""
				}
				want, _ := json.Marshal(p)
				if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), want) {
					t.Fatalf("GET %s: %d\n%s\nwant\n%s", path, resp.StatusCode(), resp.Body(), want)
				}
				if got := bytes.Contains(resp.Body(), []byte(`"email"`)); got != withEmail {
					t.Fatalf("email shown %v, want %v: %s", got, withEmail, resp.Body())
				}
				for k, v := range map[string]string{"X-Cache": wantCache, "Content-Type": "application/json",
					"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
					if got := string(resp.Header.Peek(k)); got != v {
						t.Fatalf("%s: %q, want %q", k, got, v)
					}
				}
			}
			check(s.owner, "MISS", true)
			check(s.owner, "HIT", true)
			check(s.other, "HIT", false)
			check(s.admin, "HIT", true)
			check(s.other, "HIT", false)
			check(s.owner, "HIT", true)

			bio := "changed"
			if _, err := s.svc.Update(context.Background(), s.id, user.Patch{Bio: &bio}); err != nil {
				t.Fatal(err)
			}
			check(s.other, "MISS", false)
			check(s.owner, "HIT", true)
			if body := s.serve(ctx, path, s.owner).Body(); !bytes.Contains(body, []byte(`"bio":"changed"`)) {
				t.Fatalf("after the update: %s", body)
			}
		})
	}
}
