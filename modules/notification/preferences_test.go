package notification_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/email"
	"github.com/tipbox/tipbox/modules/notification"
)

// Unknown types and channels are refused with their names in the message.
func TestPreferencesValidation(t *testing.T) {
	t.Parallel()
	s := settings(t)
	for _, c := range []struct {
		p    notification.Preferences
		want error
		text string
	}{
		{notification.Preferences{Channels: map[string]map[string]bool{"NEW_FOLLOWER": {"email": true}}}, notification.ErrUnknownType, "NEW_FOLLOWER"},
		{notification.Preferences{Channels: map[string]map[string]bool{"NEW_BADGE": {"sms": true}}}, notification.ErrUnknownChannel, "channels.NEW_BADGE.sms"},
		{notification.Preferences{TimeZone: "Mars/Olympus"}, notification.ErrInvalidPrefs, "timeZone"},
		{notification.Preferences{Language: "Turkish"}, notification.ErrInvalidPrefs, "language"},
		{notification.Preferences{QuietHours: &notification.QuietHours{Start: "25:00", End: "07:00"}}, notification.ErrInvalidPrefs, "quietHours.start"},
	} {
		err := s.Validate(c.p)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%+v: %v, want %v naming %s", c.p, err, c.want, c.text)
		}
	}
	ok := notification.Preferences{Language: "pt-BR", TimeZone: "Europe/Istanbul",
		QuietHours: &notification.QuietHours{Start: "22:00", End: "07:30"},
		Channels:   map[string]map[string]bool{"NEW_BADGE": {"email": false, "push": true}}}
	if err := s.Validate(ok); err != nil {
		t.Fatal(err)
	}
	eff := s.Effective(notification.Preferences{})
	if eff.Language != "en" || eff.TimeZone != "UTC" || !eff.On("NEW_BADGE", "email") || !eff.On("NEW_BADGE", "push") {
		t.Fatalf("defaults %+v", eff)
	}
}

// Quiet hours are read in the user's zone on the given clock, across
// midnight and across a daylight-saving change.
func TestQuietHoursUntil(t *testing.T) {
	t.Parallel()
	ist, _ := time.LoadLocation("Europe/Istanbul")
	ny, _ := time.LoadLocation("America/New_York")
	night := notification.QuietHours{Start: "22:00", End: "07:00"}
	lunch := notification.QuietHours{Start: "12:00", End: "13:30"}
	for _, c := range []struct {
		q    notification.QuietHours
		now  time.Time
		loc  *time.Location
		want time.Duration
	}{
		{night, time.Date(2026, 5, 1, 23, 30, 0, 0, ist), ist, 7*time.Hour + 30*time.Minute},
		{night, time.Date(2026, 5, 1, 6, 0, 0, 0, ist), ist, time.Hour},
		{night, time.Date(2026, 5, 1, 7, 0, 0, 0, ist), ist, 0},
		{night, time.Date(2026, 5, 1, 21, 59, 0, 0, ist), ist, 0},
		{lunch, time.Date(2026, 5, 1, 12, 15, 0, 0, ist), ist, 75 * time.Minute},
		{lunch, time.Date(2026, 5, 1, 13, 30, 0, 0, ist), ist, 0},
		{notification.QuietHours{Start: "08:00", End: "08:00"}, time.Date(2026, 5, 1, 8, 0, 0, 0, ist), ist, 0},
		// New York springs forward at 02:00 on 8 March 2026: from 01:30
		// EST to 04:00 EDT is 1h30m of real time, not 2h30m.
		{notification.QuietHours{Start: "01:00", End: "04:00"}, time.Date(2026, 3, 8, 1, 30, 0, 0, ny), ny, 90 * time.Minute},
	} {
		if got := c.q.Until(c.now.UTC(), c.loc); got != c.want {
			t.Errorf("%v at %v: %v, want %v", c.q, c.now, got, c.want)
		}
	}
}

type recipients map[int64]notification.Recipient

func (r recipients) Recipient(_ context.Context, id int64) (notification.Recipient, error) {
	if x, ok := r[id]; ok {
		return x, nil
	}
	return notification.Recipient{}, notification.ErrNoRecipient
}

type captured struct {
	msgs []email.Message
	err  error
}

func (c *captured) Send(_ context.Context, m email.Message) error {
	c.msgs = append(c.msgs, m)
	return c.err
}

// Emails are in the user's language (base language, then English, as
// fallbacks), with both bodies and a one-click unsubscribe link that
// parses back to the user, channel and type.
func TestEmailChannelMessages(t *testing.T) {
	t.Parallel()
	tpl, err := notification.LoadTemplates(notification.TemplatesFS)
	if err != nil {
		t.Fatal(err)
	}
	if err := tpl.Check([]string{"NEW_BADGE"}); err != nil {
		t.Fatal(err)
	}
	if err := tpl.Check([]string{"NEW_FOLLOWER"}); err == nil {
		t.Fatal("a type without templates passed the check")
	}
	for lang, want := range map[string]string{"tr": "tr", "tr-TR": "tr", "de": "en", "en-GB": "en"} {
		if got := tpl.Language("NEW_BADGE", lang); got != want {
			t.Errorf("language %s renders in %s, want %s", lang, got, want)
		}
	}
	unsub := notification.NewUnsubscriber("secret", "https://tipbox.example.com/")
	sent := &captured{}
	ch := notification.NewEmailChannel(sent, recipients{7: {Email: "ayse@example.com", Name: "Ayşe"}}, tpl, unsub)
	n := notification.Notification{ID: 1, UserID: 7, Type: "NEW_BADGE"}
	n.Data = map[string]json.RawMessage{"badgeName": json.RawMessage(`"İlk Gönderi"`), "badgeIcon": json.RawMessage(`"🎯"`)}
	if err := ch.Deliver(t.Context(), n, notification.Preferences{Language: "tr"}); err != nil {
		t.Fatal(err)
	}
	m := sent.msgs[0]
	if m.To != "ayse@example.com" || m.Subject != "Yeni bir rozet kazandın: İlk Gönderi" ||
		!strings.Contains(m.Text, "Merhaba Ayşe") || !strings.Contains(m.HTML, "<strong>🎯 İlk Gönderi</strong>") {
		t.Fatalf("message %+v", m)
	}
	link := strings.Trim(m.Headers["List-Unsubscribe"], "<>")
	if m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" || !strings.HasPrefix(link, "https://tipbox.example.com/api/v1/unsubscribe/") ||
		!strings.Contains(m.Text, link) || !strings.Contains(m.HTML, link) {
		t.Fatalf("unsubscribe headers %v", m.Headers)
	}
	id, channel, typ, err := unsub.Parse(strings.TrimPrefix(link, "https://tipbox.example.com"+notification.UnsubscribePath))
	if err != nil || id != 7 || channel != "email" || typ != "NEW_BADGE" {
		t.Fatalf("token: %d %s %s %v", id, channel, typ, err)
	}
	if err := ch.Deliver(t.Context(), n, notification.Preferences{Language: "de"}); err != nil || sent.msgs[1].Subject != "You earned a badge: İlk Gönderi" {
		t.Fatalf("fallback: %v %q", err, sent.msgs[1].Subject)
	}
	n.UserID = 8
	if err := ch.Deliver(t.Context(), n, notification.Preferences{Language: "en"}); err == nil || !strings.Contains(err.Error(), "skipped") {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestUnsubscribeTokens(t *testing.T) {
	t.Parallel()
	u := notification.NewUnsubscriber("secret", "http://localhost:8080")
	tok := u.Token(42, "email", "NEW_BADGE")
	if id, ch, typ, err := u.Parse(tok); err != nil || id != 42 || ch != "email" || typ != "NEW_BADGE" {
		t.Fatalf("round trip: %d %s %s %v", id, ch, typ, err)
	}
	forged := notification.NewUnsubscriber("other secret", "http://localhost:8080").Token(42, "email", "NEW_BADGE")
	other := u.Token(43, "email", "NEW_BADGE")
	spliced := strings.SplitN(other, ".", 2)[0] + "." + strings.SplitN(tok, ".", 2)[1]
	for _, bad := range []string{forged, spliced, "", "abc", tok + "x"} {
		if _, _, _, err := u.Parse(bad); !errors.Is(err, notification.ErrBadToken) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
