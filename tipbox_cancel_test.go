package tipbox_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/internal/testenv"
	"github.com/tipbox/tipbox/tipboxtest"
)

// An email held by the user's quiet hours waits in the emails queue as a
// delayed job; an admin who cancels it there (it never runs) finds the
// inbox saying the email was skipped because it was cancelled, not pending
// for ever.
func TestCancelledWaitingEmailIsSkippedInTheInbox(t *testing.T) {
	t.Parallel()
	// The test polls the inbox: no rate limit.
	app := tipboxtest.Start(t, tipbox.API(), "", "TIPBOX_HTTP_RATE_LIMIT_RPS=0")
	admin := app.Token(1, "admin")
	status, body := app.Do("POST", "/api/v1/users", admin, `{"username":"ayse","email":"ayse@example.com"}`)
	var u struct{ ID int64 }
	if status != 201 || json.Unmarshal(body, &u) != nil {
		t.Fatalf("create user: %d %s", status, body)
	}
	tok := app.Token(u.ID, "")
	users := fmt.Sprintf("/api/v1/users/%d", u.ID)
	// Quiet hours from an hour ago to two hours on (UTC): the email waits.
	now := time.Now().UTC()
	quiet := fmt.Sprintf(`{"timeZone":"UTC","quietHours":{"start":%q,"end":%q}}`,
		now.Add(-time.Hour).Format("15:04"), now.Add(2*time.Hour).Format("15:04"))
	if status, body := app.Do("PUT", users+"/preferences", tok, quiet); status != 200 {
		t.Fatalf("preferences: %d %s", status, body)
	}
	if status, body := app.Do("POST", users+"/badges", admin, `{"badgeId":1}`); status != 201 {
		t.Fatalf("grant: %d %s", status, body)
	}
	type delivery struct{ State, Detail string }
	var item struct {
		ID       string
		Channels map[string]delivery
	}
	inbox := func() bool {
		status, body := app.Do("GET", users+"/notifications", tok, "")
		var items []json.RawMessage
		if status != 200 || json.Unmarshal(body, &items) != nil {
			t.Fatalf("inbox: %d %s", status, body)
		}
		return len(items) == 1 && json.Unmarshal(items[0], &item) == nil
	}
	tipboxtest.Eventually(t, 10*time.Second, "no notification in the inbox", inbox)
	if d := item.Channels["email"]; d.State != "pending" {
		t.Fatalf("email delivery in quiet hours: %+v", d)
	}
	// The inbox holds the notification before its channel jobs are
	// queued (the handler stores, pushes, then fans out): wait for the job.
	job := "/api/v1/admin/queues/emails/jobs/email-" + item.ID
	tipboxtest.Eventually(t, 10*time.Second, "no delayed email job", func() bool {
		status, body = app.Do("GET", job, admin, "")
		switch {
		case status == 404:
			return false
		case status != 200 || !strings.Contains(string(body), `"state":"delayed"`):
			t.Fatalf("email job: %d %s", status, body)
		}
		return true
	})
	if status, body := app.Do("POST", job+"/cancel", admin, ""); status/100 != 2 {
		t.Fatalf("cancel: %d %s", status, body)
	}
	testenv.Eventually(t, 15*time.Second, func() bool {
		return inbox() && item.Channels["email"] == delivery{State: "skipped", Detail: "cancelled"}
	}, "the cancelled email is not skipped: cancelled in the inbox (last: %+v)", &item)
}
