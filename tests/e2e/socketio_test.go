package e2e_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

type presence struct {
	Online  bool `json:"online"`
	Sockets int  `json:"sockets"`
}

func presenceOf(t *testing.T, base, token string, user int64) (int, presence) {
	t.Helper()
	r := e2e.Do(t, "GET", base+"/api/v1/users/"+strconv.FormatInt(user, 10)+"/presence", token, "")
	var p presence
	if r.Status == http.StatusOK {
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("presence %s: %v", r.Body, err)
		}
	}
	return r.Status, p
}

func badgeOf(t *testing.T, e e2e.SIOEvent) (id string, user, badgeID int64) {
	t.Helper()
	var f frame
	if err := json.Unmarshal(e.Data, &f); err != nil {
		t.Fatalf("notification %s: %v", e.Data, err)
	}
	return f.ID, f.UserID, f.BadgeID
}

func nextNotification(t *testing.T, c *e2e.SIOClient) e2e.SIOEvent {
	t.Helper()
	e, skipped := c.Until("notification", 10*time.Second)
	for _, s := range skipped {
		if s.Ev != "open" && s.Ev != "upgrade" && s.Ev != "connect" {
			t.Fatalf("before the notification: %+v", s)
		}
	}
	return e
}

// The Redis profile with the real socket.io-client: two API instances and
// a worker. A client on instance A (default transports) receives the
// NEW_BADGE of a grant made through instance B; another user's client
// receives nothing; presence counts sockets on both instances and drops a
// killed instance's within its expiry; a client that reconnects gets
// exactly what it missed, then live events; SIGTERM closes clients cleanly.
func TestSocketIOAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-process run; skipped with -short")
	}
	t.Parallel()
	rs := testenv.StartRedis(t)
	dsn := testenv.PostgresDSN(t)
	env := []string{
		"REDIS_URL=redis://" + rs.Addr() + "/0", "DATABASE_URL=" + dsn,
		"TIPBOX_REALTIME_REDIS_PRESENCE_TTL=2s", "TIPBOX_LOG_LEVEL=warn",
		// Three processes on the shared PostgreSQL (max_connections 100) beside
		// other tests: the profile's 10 warm connections each would be 30.
		"TIPBOX_DATABASE_WARM_CONNS=2",
	}
	profile := []string{"--config", "configs/redis.yaml"}
	a := e2e.StartAPI(t, env, profile...)
	b := e2e.StartAPI(t, env, profile...)
	e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), append(env,
		fmt.Sprintf("TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:%d", testenv.FreePort(t))), profile...)

	admin := e2e.Token(t, 1, "admin")
	alice := createUser(t, a.BaseURL, admin, "sio_alice")
	bob := createUser(t, a.BaseURL, admin, "sio_bob")
	aliceTok, bobTok := e2e.Token(t, alice, ""), e2e.Token(t, bob, "")

	ac := e2e.StartSIO(t, e2e.SIOOptions{URL: a.BaseURL, Auth: map[string]any{"token": aliceTok}})
	bc := e2e.StartSIO(t, e2e.SIOOptions{URL: a.BaseURL, Auth: map[string]any{"token": bobTok}, Transports: []string{"websocket"}})
	ac.Until("connect", 10*time.Second)
	bc.Until("connect", 10*time.Second)
	onB := dial(t, b.BaseURL, aliceTok) // a plain /ws socket of alice's on B

	// Presence across both instances, for the user and an admin only.
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, p := presenceOf(t, a.BaseURL, aliceTok, alice)
		return p.Online && p.Sockets == 2
	}, "alice's presence is not 2 sockets")
	if st, p := presenceOf(t, b.BaseURL, admin, alice); st != 200 || p.Sockets != 2 {
		t.Fatalf("admin reads alice's presence on B: %d %+v", st, p)
	}
	if st, _ := presenceOf(t, a.BaseURL, bobTok, alice); st != http.StatusForbidden {
		t.Fatalf("bob reads alice's presence: %d", st)
	}

	// A grant through B reaches alice's Socket.IO client on A.
	grant(t, b.BaseURL, admin, alice, 1)
	id1, user, badgeID := badgeOf(t, nextNotification(t, ac))
	if user != alice || badgeID != 1 {
		t.Fatalf("alice got user %d badge %d", user, badgeID)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { ids, _ := onB.badges(alice); return ids[1] }, "the /ws socket on B got no NEW_BADGE")

	// Replay: disconnect, 5 grants, reconnect → exactly those 5, in order,
	// then a live one. The catalogue has five badges; one more is added.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var extra int64
	if err := db.QueryRow(`INSERT INTO badges (name, icon) VALUES ('Socket.IO', '🔌') RETURNING id`).Scan(&extra); err != nil {
		t.Fatal(err)
	}
	ac.Send(map[string]any{"cmd": "disconnect"})
	ac.Until("disconnect", 5*time.Second)
	missed := []int64{2, 3, 4, 5, extra}
	for _, bg := range missed {
		grant(t, b.BaseURL, admin, alice, bg)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { ids, _ := onB.badges(alice); return ids[extra] }, "the grants were not pushed")
	ac.Send(map[string]any{"cmd": "connect"})
	if e, _ := ac.Until("connect", 10*time.Second); !e.Recovered {
		t.Fatalf("not recovered: %+v", e)
	}
	// The worker runs jobs concurrently, so the inbox (and the replay) is in
	// the order the notifications were stored, not the grants': exactly the
	// five, in increasing id order.
	last, _ := strconv.ParseInt(id1, 10, 64)
	got := map[int64]bool{}
	for range missed {
		id, _, badgeID := badgeOf(t, nextNotification(t, ac))
		n, _ := strconv.ParseInt(id, 10, 64)
		if n <= last || got[badgeID] {
			t.Fatalf("replayed badge %d id %d after id %d (got %v)", badgeID, n, last, got)
		}
		got[badgeID], last = true, n
	}
	for _, bg := range missed {
		if !got[bg] {
			t.Fatalf("badge %d not replayed (got %v)", bg, got)
		}
	}
	grant(t, a.BaseURL, admin, bob, 1)
	if _, _, bg := badgeOf(t, nextNotification(t, bc)); bg != 1 {
		t.Fatalf("bob's live event: badge %d", bg)
	}
	// The killed instance's socket leaves presence within its expiry (2 s).
	b.Signal(syscall.SIGKILL)
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, p := presenceOf(t, a.BaseURL, aliceTok, alice)
		return p.Sockets == 1
	}, "B's socket still counted after B was killed")

	// Alice got nothing more; bob nothing of alice's.
	ac.Quiet(100*time.Millisecond, "open", "upgrade")
	bc.Quiet(100*time.Millisecond, "open", "upgrade")

	// SIGTERM: clients see the transport close, the process exits 0.
	a.Signal(syscall.SIGTERM)
	for _, c := range []*e2e.SIOClient{ac, bc} {
		if e, _ := c.Until("disconnect", 10*time.Second); e.Reason != "transport close" {
			t.Fatalf("on shutdown: disconnect %q", e.Reason)
		}
	}
	if code := a.Wait(15 * time.Second); code != 0 {
		t.Fatalf("api exit code %d", code)
	}
}
