package kudos_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/examples/kudos"
)

// The module boots in a real app (SQLite in a temp dir), and its routes work.
func TestKudosModule(t *testing.T) {
	t.Parallel()
	profile := "http:\n  addr: 127.0.0.1:0\ndatabase:\n  dsn: file:" + t.TempDir() + "/k.db\nkudos:\n  max_message: 10\n"
	src, err := config.Parse("test.yaml", []byte(profile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var srv *httpserver.Server
	var v *auth.Verifier
	a, err := app.New(src, adapters.All, kudos.Module, fx.NopLogger,
		httpserver.Module, fx.Populate(&srv, &v))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())

	tok, _ := v.Issue(1, auth.RoleUser, 0)
	post := func(body string) int {
		req, _ := http.NewRequest("POST", "http://"+srv.Addr().String()+"/api/v1/kudos", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(`{"to":2,"message":"thanks!"}`); got != 201 {
		t.Fatalf("send: %d", got)
	}
	if got := post(`{"to":2,"message":"far too long a message"}`); got != 400 {
		t.Fatalf("long message: %d", got)
	}
	req, _ := http.NewRequest("GET", "http://"+srv.Addr().String()+"/api/v1/users/2/kudos", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []kudos.Kudos
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list) != 1 || list[0].Message != "thanks!" || list[0].From != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
}
