package follows_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/examples/follows"
	"github.com/tipbox/tipbox/tipboxtest"
)

// Following a user pushes NEW_FOLLOWER to their socket through the
// module's own queue and job handler, in the real API with embedded
// workers; the config section, the migrations and the routes' auth hold.
func TestFollowPushesToTheFollowee(t *testing.T) {
	t.Parallel()
	app := tipboxtest.Start(t, tipbox.API(tipbox.WithModules(follows.Module)), "follows:\n  max_following: 1\n")
	ayse, mehmet := app.Token(1, ""), app.Token(2, "")
	sock := app.Connect(mehmet)

	if status, body := app.Do("POST", "/api/v1/users/2/follow", ayse, ""); status != 204 {
		t.Fatalf("follow: %d %s", status, body)
	}
	var ev struct {
		Type     string `json:"type"`
		Follower int64  `json:"follower"`
	}
	if err := json.Unmarshal(sock.Next(5*time.Second), &ev); err != nil || ev.Type != "NEW_FOLLOWER" || ev.Follower != 1 {
		t.Fatalf("frame %+v, %v", ev, err)
	}
	status, body := app.Do("GET", "/api/v1/users/2/followers", mehmet, "")
	if status != 200 || string(body) != `{"followers":[1]}` {
		t.Fatalf("followers: %d %s", status, body)
	}
	for name, tc := range map[string]struct {
		path, token string
		want        int
	}{
		"self":          {"/api/v1/users/1/follow", ayse, 400},
		"over the max":  {"/api/v1/users/3/follow", ayse, 400},
		"without token": {"/api/v1/users/3/follow", "", 401},
		"bad id":        {"/api/v1/users/x/follow", ayse, 400},
	} {
		if status, body := app.Do("POST", tc.path, tc.token, ""); status != tc.want {
			t.Errorf("%s: %d %s, want %d", name, status, body, tc.want)
		}
	}
}

// A bad value in the module's section stops the program, naming the key.
func TestBadConfigNamesTheKey(t *testing.T) {
	t.Parallel()
	p := tipbox.API(tipbox.WithModules(follows.Module))
	src, err := p.Load("", "TIPBOX_DATABASE_DSN=file:"+t.TempDir()+"/f.db", "TIPBOX_FOLLOWS_MAX_FOLLOWING=-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.New(src); err == nil || !strings.Contains(err.Error(), "follows.max_following: -1 must be at least 1") {
		t.Fatalf("err = %v", err)
	}
}
