package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/realtime/memory"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/notification/migrations"
)

// rig is a server whose hub replays from the real notification inbox
// (SQLite) and is fed by the real notification handler through the memory
// bus: grant() is what a badge grant's job does.
type rig struct {
	*rt.Server
	db      *database.DB
	handler *notification.Handler
	jobs    int
}

func newRig(t *testing.T, cfg realtime.Config, opts rt.Options) *rig {
	t.Helper()
	db := dbtest.Open(t, "sqlite", database.Migrations{Module: "notification", FS: migrations.FS})
	store := notification.NewStore(db)
	bus := memory.New()
	opts.History = notification.NewHistory(store)
	s := rt.StartServer(t, cfg, bus, opts)
	return &rig{Server: s, db: db, handler: notification.NewHandler(store, realtime.NewPublisher(bus), nil, slog.New(slog.DiscardHandler))}
}

// grant stores and pushes a NEW_BADGE notification for user.
func (r *rig) grant(t testing.TB, user, badge int64) {
	t.Helper()
	r.jobs++
	job := &queue.Job{ID: fmt.Sprintf("job-%d", r.jobs), Queue: notification.Queue, Name: "NEW_BADGE",
		Payload: fmt.Appendf(nil, `{"type":"NEW_BADGE","userId":%d,"badgeId":%d,"badgeName":"B%d","badgeIcon":"🎯"}`, user, badge, badge)}
	if err := r.handler.Handle(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

type badge struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	UserID  int64  `json:"userId"`
	BadgeID int64  `json:"badgeId"`
}

func decode(t testing.TB, e e2e.SIOEvent) badge {
	t.Helper()
	var b badge
	if err := json.Unmarshal(e.Data, &b); err != nil {
		t.Fatalf("notification %s: %v", e.Data, err)
	}
	if e.Offset == nil || *e.Offset != b.ID {
		t.Fatalf("notification %s: offset %v, want the id", e.Data, e.Offset)
	}
	return b
}

// connect waits for the connect event; before it only the engine's open
// and upgrade may come.
func connect(t *testing.T, c *e2e.SIOClient) e2e.SIOEvent {
	t.Helper()
	e, skipped := c.Until("connect", 10*time.Second)
	for _, s := range skipped {
		if s.Ev != "open" && s.Ev != "upgrade" {
			t.Fatalf("before connect: %+v", s)
		}
	}
	return e
}

// opened waits for the engine's open event and returns its transport.
func opened(t *testing.T, c *e2e.SIOClient) string {
	t.Helper()
	e, _ := c.Until("open", 10*time.Second)
	return e.Transport
}

// The real client connects with auth {token}, with the default transports
// (polling, then the upgrade to websocket) and with websocket only, and
// receives its user's events as 42["notification", {...}, "<id>"]; another
// user's events never reach it.
func TestClientReceivesOwnEventsOnBothTransports(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{}, rt.Options{})
	for _, tc := range []struct {
		name       string
		transports []string
	}{{"default", nil}, {"websocket", []string{"websocket"}}} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob := int64(10), int64(11)
			if tc.transports != nil {
				alice, bob = 20, 21
			}
			a := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, alice)}, Transports: tc.transports})
			b := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, bob)}, Transports: tc.transports})
			for _, c := range []*e2e.SIOClient{a, b} {
				want := map[string]bool{"connect": true}
				if tc.transports == nil {
					want["upgrade"] = true
				}
				first := opened(t, c)
				if (tc.transports == nil) != (first == "polling") {
					t.Fatalf("transports %v: opened on %s", tc.transports, first)
				}
				for len(want) > 0 {
					e := c.Next(10 * time.Second)
					if !want[e.Ev] || (e.Ev == "upgrade" && e.Transport != "websocket") {
						t.Fatalf("unexpected %+v", e)
					}
					delete(want, e.Ev)
				}
			}
			rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(alice) == 1 && r.Hub.Connections(bob) == 1 }, "joined")
			for i := range int64(3) {
				r.grant(t, alice, i+1)
			}
			for i := range int64(3) {
				e, _ := a.Until("notification", 5*time.Second)
				if g := decode(t, e); g.Type != "NEW_BADGE" || g.UserID != alice || g.BadgeID != i+1 {
					t.Fatalf("alice got %s", e.Data)
				}
			}
			b.Quiet(300*time.Millisecond, "upgrade", "open")
		})
	}
}

// A bad or missing token is refused with connect_error; so is a user's
// socket over max_sockets_per_user.
func TestRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{MaxSocketsPerUser: 1}, rt.Options{})
	for name, auth := range map[string]map[string]any{
		"bad token": {"token": "nonsense"}, "no token": nil,
	} {
		c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: auth, Transports: []string{"websocket"}})
		e, _ := c.Until("connect_error", 10*time.Second)
		if e.Message == "" || string(e.Data) != `{"code":"unauthorized"}` {
			t.Fatalf("%s: connect_error %+v %s", name, e, e.Data)
		}
	}
	first := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 5)}})
	connect(t, first)
	second := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 5)}})
	if e, _ := second.Until("connect_error", 10*time.Second); string(e.Data) != `{"code":"too_many_sockets"}` {
		t.Fatalf("second socket: %+v %s", e, e.Data)
	}
}

// Shutdown closes every client cleanly and at once: the client sees the
// transport close (and would reconnect elsewhere).
func TestShutdownClosesCleanly(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{}, rt.Options{})
	clients := []*e2e.SIOClient{
		e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 1)}}),
		e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 2)}, Transports: []string{"websocket"}}),
		e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 3)}, Transports: []string{"polling"}}),
	}
	for _, c := range clients {
		connect(t, c)
	}
	rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Len() == 3 }, "3 sessions")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Hub.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	for i, c := range clients {
		if e, _ := c.Until("disconnect", 5*time.Second); e.Reason != "transport close" {
			t.Fatalf("client %d: disconnect %q", i, e.Reason)
		}
	}
}

// A 4 s token's Socket.IO connection ends at expiry (plus leeway) with a
// server disconnect, on the websocket and on long-polling (where the client
// would otherwise see the transport close first and reconnect with the
// dead token); one refreshed with emit("auth", {token}) stays.
func TestTokenExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{}, rt.Options{Auth: auth.Config{Leeway: time.Second}})
	expiring := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.TokenFor(t, 1, 4*time.Second)}, Transports: []string{"websocket"}})
	expiringPoll := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.TokenFor(t, 1, 4*time.Second)}, Transports: []string{"polling"}})
	refreshed := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.TokenFor(t, 1, 4*time.Second)}})
	connect(t, expiring)
	connect(t, expiringPoll)
	connect(t, refreshed)
	refreshed.Send(map[string]any{"cmd": "auth", "token": r.Token(t, 1)})
	if e, _ := refreshed.Until("ack", 5*time.Second); e.Error != nil || string(e.Data) != `{"ok":true}` {
		t.Fatalf("refresh ack %+v %s", e, e.Data)
	}
	for _, c := range []*e2e.SIOClient{expiring, expiringPoll} {
		if e, _ := c.Until("disconnect", 10*time.Second); e.Reason != "io server disconnect" {
			t.Fatalf("expired: disconnect %q", e.Reason)
		}
	}
	r.grant(t, 1, 1)
	if e, _ := refreshed.Until("notification", 5*time.Second); decode(t, e).BadgeID != 1 {
		t.Fatalf("refreshed got %s", e.Data)
	}
}

// Disconnect, 5 grants, reconnect: exactly those 5, in order, then live
// ones; the client's state is reported recovered.
func TestReplayOnReconnect(t *testing.T) {
	t.Parallel()
	for _, transports := range [][]string{nil, {"websocket"}} {
		t.Run(fmt.Sprint(len(transports)), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, realtime.Config{}, rt.Options{})
			c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 1)}, Transports: transports})
			connect(t, c)
			r.grant(t, 1, 100)
			first := decode(t, mustNotification(t, c))
			c.Send(map[string]any{"cmd": "disconnect"})
			c.Until("disconnect", 5*time.Second)
			rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(1) == 0 }, "left")
			for i := range int64(5) {
				r.grant(t, 1, 101+i)
			}
			c.Send(map[string]any{"cmd": "connect"})
			if e := connect(t, c); !e.Recovered {
				t.Fatalf("reconnect not reported recovered: %+v", e)
			}
			last, _ := strconv.ParseInt(first.ID, 10, 64)
			for i := range int64(5) {
				g := decode(t, mustNotification(t, c))
				id, _ := strconv.ParseInt(g.ID, 10, 64)
				if g.BadgeID != 101+i || id <= last {
					t.Fatalf("replayed %d: %+v after id %d", i, g, last)
				}
				last = id
			}
			r.grant(t, 1, 200)
			if g := decode(t, mustNotification(t, c)); g.BadgeID != 200 {
				t.Fatalf("live after replay: %+v", g)
			}
			c.Quiet(200*time.Millisecond, "upgrade", "open")
		})
	}
}

// A client away longer than replay.max_age is replayed only the events
// within it and told it was not recovered (so it pages the inbox): here
// the first two of three missed events are older than the bound.
func TestReplayPastMaxAgeIsNotRecovered(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{Replay: realtime.ReplayConfig{MaxAge: time.Hour}}, rt.Options{})
	c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 1)}, Transports: []string{"websocket"}})
	connect(t, c)
	r.grant(t, 1, 1)
	seen := decode(t, mustNotification(t, c))
	c.Send(map[string]any{"cmd": "disconnect"})
	c.Until("disconnect", 5*time.Second)
	rt.WaitFor(t, 5*time.Second, func() bool { return r.Hub.Connections(1) == 0 }, "left")
	for i := range int64(3) {
		r.grant(t, 1, 2+i)
	}
	// The client was away two hours when the first two were stored.
	twoHours := (2 * time.Hour).Microseconds()
	if _, err := r.db.Exec(`UPDATE notifications SET created_at = created_at - $1 WHERE user_id = 1 AND id > $2 AND id < (SELECT MAX(id) FROM notifications WHERE user_id = 1)`, twoHours, seen.ID); err != nil {
		t.Fatal(err)
	}
	c.Send(map[string]any{"cmd": "connect"})
	if e := connect(t, c); e.Recovered {
		t.Fatalf("reported recovered although two events were past replay.max_age: %+v", e)
	}
	if g := decode(t, mustNotification(t, c)); g.BadgeID != 4 {
		t.Fatalf("replayed %+v, want only badge 4", g)
	}
	r.grant(t, 1, 5)
	if g := decode(t, mustNotification(t, c)); g.BadgeID != 5 {
		t.Fatalf("live after replay: %+v", g)
	}
}

func mustNotification(t *testing.T, c *e2e.SIOClient) e2e.SIOEvent {
	t.Helper()
	e, skipped := c.Until("notification", 5*time.Second)
	for _, s := range skipped {
		if s.Ev != "upgrade" && s.Ev != "open" {
			t.Fatalf("before the notification: %+v", s)
		}
	}
	return e
}

// A grant published at the instant of a reconnect is neither lost nor
// doubled, 200 times in a row, on both protocols: the reconnect and the
// grant race each time.
func TestReconnectRacingAGrant(t *testing.T) {
	t.Parallel()
	r := newRig(t, realtime.Config{}, rt.Options{})
	const rounds = 200
	t.Run("socketio", func(t *testing.T) {
		c := e2e.StartSIO(t, e2e.SIOOptions{URL: r.Base, Auth: map[string]any{"token": r.Token(t, 7)}, Transports: []string{"websocket"}})
		connect(t, c)
		r.grant(t, 7, 0) // so that the client has an offset
		mustNotification(t, c)
		seen := map[string]bool{}
		for i := range int64(rounds) {
			c.Send(map[string]any{"cmd": "reconnect", "id": i})
			c.Until("reconnecting", 5*time.Second)
			r.grant(t, 7, i+1) // races the connect the client is sending
			var got []badge
			for len(got) == 0 {
				e := c.Next(5 * time.Second)
				switch e.Ev {
				case "notification":
					got = append(got, decode(t, e))
				case "connect", "disconnect", "open":
				default:
					t.Fatalf("round %d: %+v", i, e)
				}
			}
			if got[0].BadgeID != i+1 || seen[got[0].ID] {
				t.Fatalf("round %d: got %+v (seen before: %v)", i, got[0], seen[got[0].ID])
			}
			seen[got[0].ID] = true
		}
		c.Quiet(300*time.Millisecond, "connect", "open")
	})
	t.Run("ws", func(t *testing.T) {
		last := ""
		r.grant(t, 8, 0)
		for i := range int64(rounds) {
			url := r.URL + "?token=" + r.Token(t, 8) + "&since=" + last
			if last == "" {
				url = r.URL + "?token=" + r.Token(t, 8) + "&since=0"
			}
			done := make(chan struct{})
			go func() { defer close(done); r.grant(t, 8, i+1) }()
			c, resp, err := rt.Dial(url, nil)
			if err != nil {
				t.Fatalf("round %d: %v (%s)", i, err, rt.Status(resp))
			}
			<-done
			// Everything after last, exactly once: this round's grant (and
			// on the first round the one before).
			want := []int64{i + 1}
			if last == "" {
				want = []int64{0, 1}
			}
			for _, w := range want {
				var b badge
				if err := json.Unmarshal(rt.Read(t, c, 5*time.Second), &b); err != nil || b.BadgeID != w {
					t.Fatalf("round %d: got %+v, want badge %d", i, b, w)
				}
				last = b.ID
			}
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, msg, err := c.ReadMessage(); err == nil {
				t.Fatalf("round %d: duplicate or extra frame %s", i, msg)
			}
			_ = c.Close()
		}
	})
}
