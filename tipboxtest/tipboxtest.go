// Package tipboxtest runs a Tipbox program inside a test, the way a module
// author checks a module end to end: the real application (kernel,
// adapters, every module of the program) on a free port, with a SQLite
// database in the test's temp dir, in-memory cache and queue and workers
// in the same process, unless the profile says otherwise.
//
//	app := tipboxtest.Start(t, tipbox.API(tipbox.WithModules(follows.Module)), "follows: {max_following: 3}")
//	status, body := app.Do("POST", "/api/v1/users/2/follow", app.Token(1, ""), "")
//	sock := app.Connect(app.Token(2, ""))
//	frame := sock.Next(time.Second)
package tipboxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/internal/testenv"
)

// App is a started program. Its methods fail the test on transport errors
// (not on HTTP statuses, which they return).
type App struct {
	// URL is the API's base, e.g. http://127.0.0.1:41234.
	URL string
	t   testing.TB
	v   *auth.Verifier
}

// Start builds and starts p with profile (YAML, layered over the
// defaults) and env (TIPBOX_* overrides, which win), and stops it when the
// test ends. The HTTP server listens on a free loopback port, tokens are
// signed with a random secret, and the database is a fresh SQLite file
// unless the profile or env sets database.dsn.
func Start(t testing.TB, p *tipbox.Program, profile string, env ...string) *App {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	base := []string{"TIPBOX_HTTP_ADDR=127.0.0.1:0", "TIPBOX_ENV=test", "TIPBOX_LOG_LEVEL=warn",
		"TIPBOX_AUTH_JWT_SECRET=" + hex.EncodeToString(secret)}
	if !strings.Contains(profile, "dsn:") && !hasEnv(env, "TIPBOX_DATABASE_DSN") {
		base = append(base, "TIPBOX_DATABASE_DSN=file:"+t.TempDir()+"/test.db")
	}
	src, err := config.Parse("tipboxtest profile", []byte(profile), append(base, env...))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := p.Options(src)
	if err != nil {
		t.Fatal(err)
	}
	var srv *httpserver.Server
	var v *auth.Verifier
	a, err := app.New(src, append(opts, fx.NopLogger, fx.Populate(&srv, &v))...)
	if err != nil {
		t.Fatalf("%s: %v", p.Name(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("%s: start: %v", p.Name(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("%s: stop: %v", p.Name(), err)
		}
	})
	return &App{URL: "http://" + srv.Addr().String(), t: t, v: v}
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// Token signs a token for user with role ("" is auth.RoleUser).
func (a *App) Token(user int64, role string) string {
	a.t.Helper()
	if role == "" {
		role = auth.RoleUser
	}
	tok, err := a.v.Issue(user, role, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// Do sends a request (body as JSON when not empty; no Authorization when
// token is empty) and returns the status and body.
func (a *App) Do(method, path, token, body string) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.URL+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// Socket is a websocket to /ws, read in the background.
type Socket struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan json.RawMessage
	done   chan struct{}
	once   sync.Once
}

// Connect opens a websocket as the token's user; it is closed when the
// test ends.
func (a *App) Connect(token string) *Socket {
	a.t.Helper()
	url := "ws" + strings.TrimPrefix(a.URL, "http") + "/ws?token=" + token
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		a.t.Fatalf("websocket: %v (status %d)", err, status)
	}
	s := &Socket{t: a.t, conn: conn, frames: make(chan json.RawMessage, 256), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.frames)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			s.frames <- msg
		}
	}()
	a.t.Cleanup(s.Close)
	return s
}

// Next returns the next text frame, failing the test if none comes within
// d or the socket closes.
func (s *Socket) Next(d time.Duration) json.RawMessage {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatal("websocket closed before a frame came")
		}
		return f
	case <-time.After(d):
		s.t.Fatalf("no websocket frame within %s", d)
		return nil
	}
}

// Close closes the socket and waits for its reader.
func (s *Socket) Close() {
	s.once.Do(func() {
		_ = s.conn.Close()
		for range s.frames { // unread frames: let the reader end
		}
		<-s.done
	})
}

// Eventually polls cond until it holds or d passes, then fails the test
// with what.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, cond, "%s", what)
}
