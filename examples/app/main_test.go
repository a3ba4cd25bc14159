package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// The example main builds into a binary that serves Tipbox's routes and
// both example modules, with their config sections known to the strict
// profile check, and the follows job pushes to a socket.
func TestExampleAppBuildsAndRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	profile := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(profile, []byte("kudos:\n  max_message: 50\nfollows:\n  max_following: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TIPBOX_AUTH_JWT_SECRET=" + strings.Repeat("k3Y", 16), "TIPBOX_ENV=test"}

	// token is a command of the example's program too.
	tokenOf := func(user int64) string {
		cmd := exec.Command(bin, "token", "--user", fmt.Sprint(user), "--config", profile)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := e2e.Start(t, dir, bin, append(env, "TIPBOX_HTTP_ADDR="+addr), "--config", profile)
	p.BaseURL = "http://" + addr
	p.WaitReady(20 * time.Second)

	one, two := tokenOf(1), tokenOf(2)
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?token="+two, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	if r := e2e.Do(t, "POST", p.BaseURL+"/api/v1/kudos", one, `{"to":2,"message":"thanks"}`); r.Status != 201 {
		t.Fatalf("kudos: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "POST", p.BaseURL+"/api/v1/users/2/follow", one, ""); r.Status != 204 {
		t.Fatalf("follow: %d %s", r.Status, r.Body)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	var ev struct {
		Type     string `json:"type"`
		Follower int64  `json:"follower"`
	}
	if err != nil || json.Unmarshal(msg, &ev) != nil || ev.Type != "NEW_FOLLOWER" || ev.Follower != 1 {
		t.Fatalf("frame %s, %v", msg, err)
	}
	if r := e2e.Do(t, "GET", p.BaseURL+"/api/v1/users/1/profile", one, ""); r.Status != http.StatusNotFound {
		t.Fatalf("Tipbox's own user routes: %d %s, want 404 for a user never created", r.Status, r.Body)
	}
	p.Signal(os.Interrupt)
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Output())
	}
}
