package e2e_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// frame is a NEW_BADGE push as a client sees it.
type frame struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	UserID  int64  `json:"userId"`
	BadgeID int64  `json:"badgeId"`
	Name    string `json:"badgeName"`
	Icon    string `json:"badgeIcon"`
}

// socket is a connected websocket client collecting frames.
type socket struct {
	conn *websocket.Conn
	mu   sync.Mutex
	got  []frame
	raw  []string
	done chan struct{}
}

func dial(t *testing.T, base, token string) *socket {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws?token=" + token
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", base, err, status)
	}
	s := &socket{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f frame
			_ = json.Unmarshal(msg, &f)
			s.mu.Lock()
			s.got = append(s.got, f)
			s.raw = append(s.raw, string(msg))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-s.done })
	return s
}

// badges returns the distinct badge ids received, and any frame that was
// not for wantUser.
func (s *socket) badges(wantUser int64) (map[int64]bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[int64]bool{}
	var foreign []string
	for i, f := range s.got {
		if f.UserID != wantUser || f.Type != "NEW_BADGE" {
			foreign = append(foreign, s.raw[i])
			continue
		}
		ids[f.BadgeID] = true
	}
	return ids, foreign
}

var connGauge = regexp.MustCompile(`(?m)^tipbox_realtime_connections(?:\{[^}]*\})? (\d+)`)

// waitSockets waits until the API instance holds n registered sockets.
func waitSockets(t *testing.T, base string, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := e2e.Do(t, "GET", base+"/metrics", "", "")
		m := connGauge.FindSubmatch(r.Body)
		if m == nil {
			return n == 0
		}
		got, _ := strconv.Atoi(string(m[1]))
		return got == n
	}, "%s does not hold %d sockets", base, n)
}

func grant(t *testing.T, base, admin string, user, badge int64) {
	t.Helper()
	r := e2e.Do(t, "POST", base+"/api/v1/users/"+strconv.FormatInt(user, 10)+"/badges", admin, `{"badgeId":`+strconv.FormatInt(badge, 10)+`}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("grant %d to %d: %d %s", badge, user, r.Status, r.Body)
	}
}

// The embedded profile end to end: grant a badge → the NEW_BADGE frame
// arrives within 1 s, the inbox has it, the profile shows the badge.
func TestEmbeddedBadgeNotification(t *testing.T) {
	t.Parallel()
	api := e2e.StartAPI(t, nil)
	admin := e2e.Token(t, 1, "admin")
	alice := createUser(t, api.BaseURL, admin, "alice")
	bob := createUser(t, api.BaseURL, admin, "bob")
	aliceTok, bobTok := e2e.Token(t, alice, ""), e2e.Token(t, bob, "")

	// Cache alice's profile (no badges yet).
	if r := e2e.Do(t, "GET", profileURL(api.BaseURL, alice), aliceTok, ""); field(t, r.Body, "badgeCount") != float64(0) {
		t.Fatalf("profile before: %s", r.Body)
	}
	as, bs := dial(t, api.BaseURL, aliceTok), dial(t, api.BaseURL, bobTok)
	waitSockets(t, api.BaseURL, 2)

	start := time.Now()
	grant(t, api.BaseURL, admin, alice, 1)
	testenv.Eventually(t, time.Second, func() bool { ids, _ := as.badges(alice); return ids[1] }, "no NEW_BADGE frame within 1s")
	t.Logf("grant → frame: %s", time.Since(start))
	as.mu.Lock()
	f := as.got[0]
	as.mu.Unlock()
	if f.Name != "First Post" || f.Icon != "🎯" || f.ID == "" {
		t.Fatalf("frame %+v", f)
	}
	if r := e2e.Do(t, "POST", api.BaseURL+"/api/v1/users/"+strconv.FormatInt(alice, 10)+"/badges", admin, `{"badgeId":1}`); r.Status != http.StatusConflict {
		t.Fatalf("second grant: %d %s", r.Status, r.Body)
	}

	r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/users/"+strconv.FormatInt(alice, 10)+"/notifications", aliceTok, "")
	var inbox []map[string]any
	if err := json.Unmarshal(r.Body, &inbox); err != nil || len(inbox) != 1 || inbox[0]["type"] != "NEW_BADGE" || inbox[0]["id"] != f.ID {
		t.Fatalf("inbox: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/users/"+strconv.FormatInt(alice, 10)+"/notifications", bobTok, ""); r.Status != http.StatusForbidden {
		t.Fatalf("bob reads alice's inbox: %d", r.Status)
	}
	r = e2e.Do(t, "GET", profileURL(api.BaseURL, alice), aliceTok, "")
	if field(t, r.Body, "badgeCount") != float64(1) || r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("profile after the grant (X-Cache %s): %s", r.Header.Get("X-Cache"), r.Body)
	}
	if ids, foreign := bs.badges(bob); len(ids) != 0 || len(foreign) != 0 {
		t.Fatalf("bob's socket received %v %v", ids, foreign)
	}
}

func TestWebsocketRefusesBadTokens(t *testing.T) {
	t.Parallel()
	api := e2e.StartAPI(t, nil)
	url := "ws" + strings.TrimPrefix(api.BaseURL, "http") + "/ws"
	for _, q := range []string{"", "?token=nonsense", "?token=" + strings.Repeat("a", 40)} {
		_, resp, err := websocket.DefaultDialer.Dial(url+q, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("dial %q: err %v, status %d, want 401", q, err, status)
		}
	}
	// A header token works too.
	tok := e2e.Token(t, 9, "")
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("dial with header token: %v", err)
	}
	conn.Close()
}
