package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/tipbox/tipbox/adapters/push/webpush"
	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/pushtest"
	"github.com/tipbox/tipbox/internal/smtptest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// channelAPI starts the API (embedded profile) sending email to the SMTP
// server at smtpPort and Web Push with a fresh VAPID pair, trusting
// caFile's certificate (the test's push service). Its public URL is its
// own address, so unsubscribe links point at it.
func channelAPI(t *testing.T, smtpPort int, caFile string, env ...string) (*e2e.Proc, string) {
	t.Helper()
	priv, pub, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env = append([]string{
		"TIPBOX_HTTP_ADDR=" + addr,
		"TIPBOX_NOTIFICATION_PUBLIC_URL=http://" + addr,
		"TIPBOX_EMAIL_DRIVER=smtp",
		"TIPBOX_EMAIL_FROM=Tipbox <no-reply@tipbox.test>",
		"TIPBOX_EMAIL_SMTP_HOST=127.0.0.1",
		"TIPBOX_EMAIL_SMTP_PORT=" + strconv.Itoa(smtpPort),
		"TIPBOX_EMAIL_SMTP_TLS=none",
		"TIPBOX_EMAIL_SMTP_TIMEOUT=2s",
		"TIPBOX_PUSH_DRIVER=webpush",
		"TIPBOX_PUSH_VAPID_PUBLIC_KEY=" + pub,
		"TIPBOX_PUSH_VAPID_PRIVATE_KEY=" + priv,
		"TIPBOX_PUSH_TIMEOUT=2s",
		"TIPBOX_QUEUE_RETRY_BACKOFF_INITIAL=100ms",
		"SSL_CERT_FILE=" + caFile,
	}, env...)
	p := e2e.Start(t, t.TempDir(), e2e.Binary(t, "api"), env)
	p.BaseURL = "http://" + addr
	p.WaitReady(15 * time.Second)
	return p, pub
}

func userURL(base string, id int64, rest string) string {
	return base + "/api/v1/users/" + strconv.FormatInt(id, 10) + rest
}

// item is an inbox item's channels.
type item struct {
	ID       string `json:"id"`
	BadgeID  int64  `json:"badgeId"`
	Channels map[string]struct {
		State  string `json:"state"`
		Detail string `json:"detail"`
	} `json:"channels"`
}

func inbox(t *testing.T, base string, id int64, tok string) []item {
	t.Helper()
	r := e2e.Do(t, "GET", userURL(base, id, "/notifications"), tok, "")
	var items []item
	if r.Status != 200 || json.Unmarshal(r.Body, &items) != nil {
		t.Fatalf("inbox: %d %s", r.Status, r.Body)
	}
	return items
}

// waitState waits until the inbox item of badge has the channel in state.
func waitState(t *testing.T, base string, id int64, tok string, badge int64, channel, state string) item {
	t.Helper()
	var got item
	testenv.Eventually(t, 15*time.Second, func() bool {
		for _, it := range inbox(t, base, id, tok) {
			if it.BadgeID == badge {
				got = it
				return it.Channels[channel].State == state
			}
		}
		return false
	}, "badge %d's %s delivery never became %s (last: %+v)", badge, channel, state, &got)
	return got
}

func subscribeBody(svc *pushtest.Service) string {
	s := svc.Subscription()
	return fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, s.Endpoint, s.P256dh, s.Auth)
}

// oneClick posts to an unsubscribe link what a mail client sends for
// RFC 8058: a form with List-Unsubscribe=One-Click, no credentials.
func oneClick(t *testing.T, link string) (int, string) {
	t.Helper()
	resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A badge for a user with email and push on: the socket frame, exactly
// one email (both parts, in Turkish, with a one-click unsubscribe link
// that turns email off), and one push the receiving service decrypts and
// whose VAPID token it verifies. The inbox shows both deliveries sent.
func TestBadgeReachesEmailAndPush(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t)
	svc := pushtest.Start(t, "")
	api, pub := channelAPI(t, mail.Port, svc.CertFile(t, t.TempDir()))
	svc.VAPIDPublicKey = pub
	admin := e2e.Token(t, 1, "admin")
	r := e2e.Do(t, "POST", api.BaseURL+"/api/v1/users", admin, `{"username":"ayse","email":"ayse@example.com","displayName":"Ayşe"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := int64(field(t, r.Body, "id").(float64))
	tok := e2e.Token(t, id, "")

	// Preferences: Turkish; unknown types and channels are 400s naming them.
	if r := e2e.Do(t, "PUT", userURL(api.BaseURL, id, "/preferences"), tok, `{"language":"tr","timeZone":"Europe/Istanbul"}`); r.Status != 200 ||
		field(t, r.Body, "language") != "tr" {
		t.Fatalf("put preferences: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct{ body, code, name string }{
		{`{"channels":{"NEW_BADGE":{"sms":true}}}`, "unknown_channel", "sms"},
		{`{"channels":{"NEW_THING":{"email":true}}}`, "unknown_notification_type", "NEW_THING"},
		{`{"quietHours":{"start":"22:00","end":"7"}}`, "invalid_preferences", "quietHours.end"},
	} {
		r := e2e.Do(t, "PUT", userURL(api.BaseURL, id, "/preferences"), tok, c.body)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"`+c.code+`"`) || !strings.Contains(string(r.Body), c.name) {
			t.Fatalf("%s: %d %s", c.body, r.Status, r.Body)
		}
	}
	if r := e2e.Do(t, "GET", userURL(api.BaseURL, id+1, "/preferences"), tok, ""); r.Status != http.StatusForbidden {
		t.Fatalf("another user's preferences: %d", r.Status)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/push/public-key", tok, ""); field(t, r.Body, "publicKey") != pub {
		t.Fatalf("public key: %s", r.Body)
	}
	if r := e2e.Do(t, "POST", userURL(api.BaseURL, id, "/push-subscriptions"), tok, subscribeBody(svc)); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "POST", userURL(api.BaseURL, id, "/push-subscriptions"), tok, `{"endpoint":"http://x.example.com","keys":{"p256dh":"a","auth":"b"}}`); r.Status != 400 {
		t.Fatalf("bad subscription: %d %s", r.Status, r.Body)
	}

	sock := dial(t, api.BaseURL, tok)
	waitSockets(t, api.BaseURL, 1)
	grant(t, api.BaseURL, admin, id, 1)
	testenv.Eventually(t, 5*time.Second, func() bool { ids, _ := sock.badges(id); return ids[1] }, "no NEW_BADGE frame")
	it := waitState(t, api.BaseURL, id, tok, 1, "email", "sent")
	it = waitState(t, api.BaseURL, id, tok, 1, "push", "sent")

	msgs := mail.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ayse@example.com" {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	m, err := smtptest.Parse(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Yeni bir rozet kazandın: First Post" || !strings.Contains(m.Text, "Merhaba Ayşe") ||
		!strings.Contains(m.HTML, "rozetini kazandın") || strings.Join(m.Parts, ",") != "text/plain,text/html" {
		t.Fatalf("email: subject %q parts %v\n%s\n%s", m.Subject, m.Parts, m.Text, m.HTML)
	}
	link := strings.Trim(m.Header.Get("List-Unsubscribe"), "<>")
	if !strings.HasPrefix(link, api.BaseURL+"/api/v1/unsubscribe/") || m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" ||
		!strings.Contains(m.Text, link) {
		t.Fatalf("unsubscribe headers: %v", m.Header)
	}

	got := svc.Received()
	if len(got) != 1 || len(svc.Errors()) != 0 {
		t.Fatalf("push: %+v, service errors %v", got, svc.Errors())
	}
	var pushed map[string]any
	if err := json.Unmarshal(got[0].Payload, &pushed); err != nil || pushed["type"] != "NEW_BADGE" || pushed["badgeName"] != "First Post" ||
		pushed["id"] != it.ID || pushed["userId"] != float64(id) {
		t.Fatalf("decrypted payload %s (%v)", got[0].Payload, err)
	}
	if got[0].TTL != "604800" || got[0].Urgency != "normal" {
		t.Fatalf("push headers %+v", got[0])
	}

	// The link: GET asks, POST (what a mail client does) turns email off.
	if r := e2e.Do(t, "GET", link, "", ""); r.Status != 200 || !strings.Contains(string(r.Body), "<form") {
		t.Fatalf("GET link: %d %s", r.Status, r.Body)
	}
	if code, body := oneClick(t, link[:len(link)-2]+"xx"); code != 400 {
		t.Fatalf("tampered link: %d %s", code, body)
	}
	if code, body := oneClick(t, link); code != 200 {
		t.Fatalf("POST link: %d %s", code, body)
	}
	r = e2e.Do(t, "GET", userURL(api.BaseURL, id, "/preferences"), tok, "")
	var prefs struct {
		Channels map[string]map[string]bool `json:"channels"`
	}
	if err := json.Unmarshal(r.Body, &prefs); err != nil || prefs.Channels["NEW_BADGE"]["email"] || !prefs.Channels["NEW_BADGE"]["push"] {
		t.Fatalf("preferences after unsubscribing: %s", r.Body)
	}

	// The next badge: push only; the inbox says why no email went.
	grant(t, api.BaseURL, admin, id, 2)
	it = waitState(t, api.BaseURL, id, tok, 2, "push", "sent")
	if it.Channels["email"].State != "skipped" || it.Channels["email"].Detail != "disabled" {
		t.Fatalf("second badge: %+v", it)
	}
	if n := len(mail.Messages()); n != 1 {
		t.Fatalf("%d emails after unsubscribing, want still 1", n)
	}
}

// SMTP 451 then 250: retried once, delivered once. SMTP 550: failed, not
// retried (dead at its first attempt), recorded in the inbox.
func TestEmailRetryAndRefusal(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t)
	mail.SetReply(func(_ string, to []string, attempt int) *gosmtp.SMTPError {
		switch {
		case to[0] == "later@example.com" && attempt == 1:
			return smtptest.Reply451
		case to[0] == "nobody@example.com":
			return smtptest.Reply550
		}
		return nil
	})
	svc := pushtest.Start(t, "")
	api, _ := channelAPI(t, mail.Port, svc.CertFile(t, t.TempDir()))
	admin := e2e.Token(t, 1, "admin")
	later := createUser(t, api.BaseURL, admin, "later")
	nobody := createUser(t, api.BaseURL, admin, "nobody")
	grant(t, api.BaseURL, admin, later, 1)
	grant(t, api.BaseURL, admin, nobody, 1)

	waitState(t, api.BaseURL, later, admin, 1, "email", "sent")
	if n, a := len(mail.Messages()), mail.Attempts("later@example.com"); n != 1 || a != 2 {
		t.Fatalf("451 then 250: %d messages in %d attempts, want 1 in 2", n, a)
	}
	it := waitState(t, api.BaseURL, nobody, admin, 1, "email", "failed")
	if !strings.Contains(it.Channels["email"].Detail, "550") {
		t.Fatalf("550 detail: %+v", it)
	}
	r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues/emails/failed", admin, "")
	var dead []struct {
		Attempts int    `json:"attempts"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &dead); err != nil || len(dead) != 1 || dead[0].Attempts != 1 || !strings.Contains(dead[0].Error, "550") {
		t.Fatalf("dead letters: %d %s", r.Status, r.Body)
	}
	if a := mail.Attempts("nobody@example.com"); a != 1 {
		t.Fatalf("550 was tried %d times", a)
	}
	if n := len(mail.Messages()); n != 1 {
		t.Fatalf("%d messages accepted, want 1", n)
	}
}

// A push service answering 410 Gone: the subscription is removed and the
// delivery failed.
func TestPushGoneRemovesSubscription(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t)
	svc := pushtest.Start(t, "")
	svc.SetStatus(http.StatusGone)
	api, _ := channelAPI(t, mail.Port, svc.CertFile(t, t.TempDir()))
	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, api.BaseURL, admin, "gone")
	tok := e2e.Token(t, id, "")
	if r := e2e.Do(t, "POST", userURL(api.BaseURL, id, "/push-subscriptions"), tok, subscribeBody(svc)); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	grant(t, api.BaseURL, admin, id, 1)
	it := waitState(t, api.BaseURL, id, tok, 1, "push", "failed")
	if !strings.Contains(it.Channels["push"].Detail, "gone") || len(svc.Received()) != 1 {
		t.Fatalf("push: %+v, received %d", it, len(svc.Received()))
	}
	if r := e2e.Do(t, "GET", userURL(api.BaseURL, id, "/push-subscriptions"), tok, ""); strings.TrimSpace(string(r.Body)) != "[]" {
		t.Fatalf("subscriptions after 410: %s", r.Body)
	}
	// Deleting by endpoint: 204, then 404.
	e2e.Do(t, "POST", userURL(api.BaseURL, id, "/push-subscriptions"), tok, subscribeBody(svc))
	if r := e2e.Do(t, "DELETE", userURL(api.BaseURL, id, "/push-subscriptions"), tok, fmt.Sprintf(`{"endpoint":%q}`, svc.Subscription().Endpoint)); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "DELETE", userURL(api.BaseURL, id, "/push-subscriptions"), tok, fmt.Sprintf(`{"endpoint":%q}`, svc.Subscription().Endpoint)); r.Status != http.StatusNotFound {
		t.Fatalf("delete again: %d %s", r.Status, r.Body)
	}
}

// With the SMTP server and the push service both down, the socket and the
// inbox work as before: the frame arrives, the item is stored, and the
// channels are left retrying.
func TestChannelsDownLeaveSocketAndInbox(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	svc := pushtest.Start(t, "")
	ca := svc.CertFile(t, t.TempDir())
	api, _ := channelAPI(t, deadPort, ca)
	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, api.BaseURL, admin, "offline")
	tok := e2e.Token(t, id, "")
	if r := e2e.Do(t, "POST", userURL(api.BaseURL, id, "/push-subscriptions"), tok, subscribeBody(svc)); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	svc.Close() // the push service goes away
	sock := dial(t, api.BaseURL, tok)
	waitSockets(t, api.BaseURL, 1)
	start := time.Now()
	grant(t, api.BaseURL, admin, id, 1)
	testenv.Eventually(t, time.Second, func() bool { ids, _ := sock.badges(id); return ids[1] }, "no NEW_BADGE frame within 1s")
	t.Logf("grant → frame with both channels down: %s", time.Since(start))
	items := inbox(t, api.BaseURL, id, tok)
	if len(items) != 1 || items[0].BadgeID != 1 {
		t.Fatalf("inbox %+v", items)
	}
	// Both channels fail their attempts and, out of attempts, say so.
	it := waitState(t, api.BaseURL, id, tok, 1, "email", "failed")
	it = waitState(t, api.BaseURL, id, tok, 1, "push", "failed")
	if !strings.Contains(it.Channels["email"].Detail, strconv.Itoa(deadPort)) {
		t.Fatalf("email detail: %+v", it)
	}
}

// The channel jobs run in cmd/worker too: on the Redis profile (an API
// that runs no jobs, one worker), a badge reaches the user by email (the
// SMTP server in the test) and Web Push (the receiving service in the
// test), and the API's inbox shows both sent.
func TestWorkerProgramSendsEmailAndPush(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run; skipped with -short")
	}
	t.Parallel()
	mail := smtptest.Start(t)
	svc := pushtest.Start(t, "")
	priv, pub, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	svc.VAPIDPublicKey = pub
	rs := testenv.StartRedis(t)
	env := []string{
		"REDIS_URL=redis://" + rs.Addr() + "/0", "DATABASE_URL=" + testenv.PostgresDSN(t),
		"TIPBOX_DATABASE_WARM_CONNS=1",
		"TIPBOX_EMAIL_DRIVER=smtp",
		"TIPBOX_EMAIL_FROM=Tipbox <no-reply@tipbox.test>",
		"TIPBOX_EMAIL_SMTP_HOST=127.0.0.1",
		"TIPBOX_EMAIL_SMTP_PORT=" + strconv.Itoa(mail.Port),
		"TIPBOX_EMAIL_SMTP_TLS=none",
		"TIPBOX_PUSH_DRIVER=webpush",
		"TIPBOX_PUSH_VAPID_PUBLIC_KEY=" + pub,
		"TIPBOX_PUSH_VAPID_PRIVATE_KEY=" + priv,
		"SSL_CERT_FILE=" + svc.CertFile(t, t.TempDir()),
	}
	profile := []string{"--config", "configs/redis.yaml"}
	api := e2e.StartAPI(t, env, profile...) // migrates the database first
	e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), append(env,
		fmt.Sprintf("TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:%d", testenv.FreePort(t))), profile...)

	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, api.BaseURL, admin, "worker")
	tok := e2e.Token(t, id, "")
	if r := e2e.Do(t, "POST", userURL(api.BaseURL, id, "/push-subscriptions"), tok, subscribeBody(svc)); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	grant(t, api.BaseURL, admin, id, 1)
	waitState(t, api.BaseURL, id, tok, 1, "email", "sent")
	waitState(t, api.BaseURL, id, tok, 1, "push", "sent")
	if msgs := mail.Messages(); len(msgs) != 1 || msgs[0].To[0] != "worker@example.com" {
		t.Fatalf("messages: %+v", msgs)
	}
	if got := svc.Received(); len(got) != 1 || len(svc.Errors()) != 0 {
		t.Fatalf("push: %+v, service errors %v", got, svc.Errors())
	}
}
