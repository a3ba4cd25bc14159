package auth_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
