package auth_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tipbox/tipbox/core/auth"
)

func verifier(t *testing.T, secret string) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{JWTSecret: secret}, false)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIssueAndParse(t *testing.T) {
	t.Parallel()
	v := verifier(t, strings.Repeat("k", 32))
	tok, err := v.Issue(42, auth.RoleAdmin, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Parse(tok)
	if err != nil || p.UserID != 42 || !p.IsAdmin() {
		t.Fatalf("%+v %v", p, err)
	}
	// Another secret, an expired token, the "none" algorithm: all refused.
	if _, err := verifier(t, strings.Repeat("z", 32)).Parse(tok); err == nil {
		t.Fatal("token signed with another secret accepted")
	}
	old, _ := v.Issue(42, auth.RoleUser, time.Nanosecond)
	time.Sleep(2 * time.Millisecond) // let the nanosecond lifetime lapse; leeway is 30s, so use a strict verifier below
	strict, _ := auth.NewVerifier(auth.Config{JWTSecret: strings.Repeat("k", 32), Leeway: time.Nanosecond}, false)
	if _, err := strict.Parse(old); err == nil {
		t.Fatal("expired token accepted")
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "1", "role": "admin", "iss": "tipbox", "exp": time.Now().Add(time.Hour).Unix()})
	s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := v.Parse(s); err == nil {
		t.Fatal("alg none accepted")
	}
	if _, err := v.Issue(1, "root", 0); err == nil {
		t.Fatal("unknown role issued")
	}
}

func TestProductionRefusesDevSecret(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewVerifier(auth.Config{}, true); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret") {
		t.Fatalf("err %v", err)
	}
	if _, err := auth.NewVerifier(auth.Config{JWTSecret: "short"}, false); err == nil || !strings.Contains(err.Error(), "jwt_secret") {
		t.Fatalf("err %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	v := verifier(t, strings.Repeat("k", 32))
	app := fiber.New()
	app.Get("/admin", v.Required(), auth.RequireRole(auth.RoleAdmin), func(c *fiber.Ctx) error {
		p, _ := auth.PrincipalFrom(c)
		return c.SendString(p.Role)
	})
	userTok, _ := v.Issue(7, auth.RoleUser, 0)
	adminTok, _ := v.Issue(8, auth.RoleAdmin, 0)
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"", 401}, {"Bearer", 401}, {"Basic abc", 401}, {"Bearer garbage", 401},
		{"Bearer " + userTok, 403}, {"Bearer " + adminTok, 200}, {"bearer " + adminTok, 200},
	} {
		req := httptest.NewRequest("GET", "/admin", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.want {
			t.Errorf("%q: %d %s, want %d", tc.header, resp.StatusCode, body, tc.want)
		}
	}
}

// A token verified once (and remembered) is still refused once it expires.
func TestRememberedTokenStillExpires(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(auth.Config{JWTSecret: strings.Repeat("k", 32), Leeway: time.Nanosecond}, false)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := v.Issue(5, auth.RoleUser, time.Second)
	if _, err := v.Parse(tok); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := v.Parse(tok); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("remembered token accepted 3s after a 1s lifetime")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Parse is given views of reused request buffers (the Authorization
// header, read in place): what it remembers must not change when the
// buffer is overwritten by the next request's token. Were it kept, a
// remembered entry would read as a later token and answer for it.
func TestParseKeepsNoReferenceToItsArgument(t *testing.T) {
	t.Parallel()
	v := verifier(t, strings.Repeat("k", 32))
	const first, n = 100_000, 3000
	toks := make([]string, n)
	for i := range toks {
		toks[i], _ = v.Issue(int64(first+i), auth.RoleUser, time.Hour)
		if len(toks[i]) != len(toks[0]) {
			t.Fatalf("tokens of %d and %d bytes: the test needs equal lengths", len(toks[0]), len(toks[i]))
		}
	}
	buf := make([]byte, len(toks[0]))
	view := unsafe.String(&buf[0], len(buf))
	for round := range 2 {
		for i, tok := range toks {
			copy(buf, tok)
			p, err := v.Parse(view)
			if err != nil || p.UserID != int64(first+i) {
				t.Fatalf("round %d, token %d: Parse = %+v, %v; want user %d", round, i, p, err, first+i)
			}
		}
	}
}

// The development secret works only in env development, and says so
// loudly there; the leeway is bounded; production wants a secret with
// real entropy.
func TestSecretPolicy(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := auth.New(auth.Config{}, "development", log); err != nil {
		t.Fatalf("development with the dev secret: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "development secret") {
		t.Fatalf("no loud warning for the dev secret:\n%s", logs.String())
	}
	for _, env := range []string{"test", "production", "staging"} {
		if _, err := auth.New(auth.Config{}, env, log); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret") {
			t.Errorf("env %s with the dev secret: %v", env, err)
		}
	}
	for _, l := range []time.Duration{-time.Hour, 8760 * time.Hour, 6 * time.Minute} {
		if _, err := auth.New(auth.Config{JWTSecret: strongSecret, Leeway: l}, "test", log); err == nil || !strings.Contains(err.Error(), "leeway") {
			t.Errorf("leeway %s: %v", l, err)
		}
	}
	for _, weak := range []string{strings.Repeat("a", 32), strings.Repeat("ab", 40), "passwordpasswordpasswordpassword"} {
		if _, err := auth.New(auth.Config{JWTSecret: weak}, "production", log); err == nil || !strings.Contains(err.Error(), "entropy") {
			t.Errorf("weak secret %q in production: %v", weak, err)
		}
	}
	if _, err := auth.New(auth.Config{JWTSecret: strongSecret}, "production", log); err != nil {
		t.Fatalf("strong secret in production: %v", err)
	}
}

// 48 random bytes, base64: what docs/operations.md tells operators to use.
const strongSecret = "q3Jx9vN0bW2tK8sZ1eY4uR7aL5cH6dF0gP2mV9xB3nT8wQ1zE4yU7iO0pA5sD6f"

func TestAccess(t *testing.T) {
	t.Parallel()
	v := verifier(t, strings.Repeat("k", 32))
	if (auth.Access{}).Declared() || !auth.Public().Declared() || !v.SignedIn().Declared() {
		t.Fatal("Declared")
	}
	app := fiber.New()
	app.Use(v.Identify())
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	app.Get("/public", auth.Public().Handler(), ok)
	app.Get("/signed", v.SignedIn().Handler(), ok)
	app.Get("/admin", v.Role(auth.RoleAdmin).Handler(), ok)
	user, _ := v.Issue(7, auth.RoleUser, time.Minute)
	admin, _ := v.Issue(1, auth.RoleAdmin, time.Minute)
	for _, tc := range []struct {
		path, token string
		status      int
		noStore     bool
	}{
		{"/public", "", 200, false},
		{"/public", user, 200, true},
		{"/signed", "", 401, true},
		{"/signed", "garbage", 401, true},
		{"/signed", user, 200, true},
		{"/admin", user, 403, true},
		{"/admin", admin, 200, true},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || (resp.Header.Get("Cache-Control") == "no-store") != tc.noStore {
			t.Errorf("%s with %q: %d Cache-Control=%q", tc.path, tc.token, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}
