package realtime_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

// Without a shared store (the embedded profile) presence is this process's
// sockets, both protocols: readable by the user and an admin only; a
// user's first socket and last close are counted as a join and a leave.
func TestPresenceOfOneInstance(t *testing.T) {
	t.Parallel()
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{})
	admin, err := s.Verifier.Issue(99, auth.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	get := func(user, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.Base+"/api/v1/users/"+user+"/presence", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	self := s.Token(t, 1)
	if st, body := get("1", self); st != 200 || body != `{"online":false,"sockets":0}` {
		t.Fatalf("before any socket: %d %s", st, body)
	}
	ws := s.Connect(t, 1)
	sio, err := rt.DialSocketIO(strings.TrimSuffix(s.URL, realtime.Path), self)
	if err != nil {
		t.Fatal(err)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 2 }, "both sockets joined")
	for who, tok := range map[string]string{"the user": self, "an admin": admin} {
		if st, body := get("1", tok); st != 200 || body != `{"online":true,"sockets":2}` {
			t.Fatalf("%s reads: %d %s", who, st, body)
		}
	}
	if st, _ := get("1", s.Token(t, 2)); st != http.StatusForbidden {
		t.Fatalf("another user reads: %d", st)
	}
	if st, _ := get("x", admin); st != http.StatusBadRequest {
		t.Fatalf("bad id: %d", st)
	}
	if st, _ := get("1", ""); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d", st)
	}
	if j, o := s.Counter(t, "tipbox_realtime_presence_joins_total"), s.Counter(t, "tipbox_realtime_online_users"); j != 1 || o != 1 {
		t.Fatalf("joins %v online %v after two sockets of one user", j, o)
	}
	_ = ws.Close()
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 1 }, "the /ws socket left")
	if l := s.Counter(t, "tipbox_realtime_presence_leaves_total"); l != 0 {
		t.Fatalf("leaves %v with a socket still open", l)
	}
	_ = sio.Close()
	rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(1) == 0 }, "the Socket.IO socket left")
	var p struct {
		Online  bool `json:"online"`
		Sockets int  `json:"sockets"`
	}
	if st, body := get("1", self); st != 200 || json.Unmarshal([]byte(body), &p) != nil || p.Online || p.Sockets != 0 {
		t.Fatalf("after both closed: %d %s", st, body)
	}
	if l, o := s.Counter(t, "tipbox_realtime_presence_leaves_total"), s.Counter(t, "tipbox_realtime_online_users"); l != 1 || o != 0 {
		t.Fatalf("leaves %v online %v after the last socket closed", l, o)
	}
}
