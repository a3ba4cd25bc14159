package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// Analytics events go through the low-priority queue to the daily counts;
// the admin queue routes show the queues.
func TestAnalyticsAndQueueAdmin(t *testing.T) {
	t.Parallel()
	api := e2e.StartAPI(t, nil)
	admin := e2e.Token(t, 1, "admin")
	user := e2e.Token(t, 2, "")
	var jobID string
	for range 5 {
		r := e2e.Do(t, "POST", api.BaseURL+"/api/v1/analytics/events", user, `{"event":"user_login","data":{"via":"web"}}`)
		if r.Status != http.StatusAccepted || field(t, r.Body, "jobId") == "" {
			t.Fatalf("track: %d %s", r.Status, r.Body)
		}
		jobID, _ = field(t, r.Body, "jobId").(string)
	}
	// The jobId the API answered finds the job in the job API.
	testenv.Eventually(t, 5*time.Second, func() bool {
		r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues/analytics/jobs/"+jobID, admin, "")
		return r.Status == 200 && field(t, r.Body, "state") == "completed" && field(t, r.Body, "name") == "event"
	}, "job %s not found completed through the job API", jobID)
	if r := e2e.Do(t, "POST", api.BaseURL+"/api/v1/analytics/events", user, `{"event":"no spaces please"}`); r.Status != http.StatusBadRequest {
		t.Fatalf("bad event: %d", r.Status)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/analytics/events", user, ""); r.Status != http.StatusForbidden {
		t.Fatalf("counts as a user: %d", r.Status)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	testenv.Eventually(t, 5*time.Second, func() bool {
		r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/analytics/events?event=user_login&from="+today+"&to="+today, admin, "")
		var c []struct {
			Event string `json:"event"`
			Date  string `json:"date"`
			Count int    `json:"count"`
		}
		_ = json.Unmarshal(r.Body, &c)
		return len(c) == 1 && c[0].Count == 5 && c[0].Date == today
	}, "daily count did not reach 5")

	r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues", admin, "")
	var qs []map[string]any
	if err := json.Unmarshal(r.Body, &qs); err != nil || r.Status != 200 || len(qs) != 4 { // notifications, analytics, emails, push
		t.Fatalf("queues: %d %s", r.Status, r.Body)
	}
	for _, q := range qs {
		for _, k := range []string{"name", "waiting", "active", "completed", "failed", "delayed", "paused"} {
			if _, ok := q[k]; !ok {
				t.Fatalf("queue stats lack %q: %v", k, q)
			}
		}
	}
	// Completion records may be written a moment after the job's effect.
	testenv.Eventually(t, 5*time.Second, func() bool {
		r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues/analytics", admin, "")
		return r.Status == 200 && field(t, r.Body, "completed") == float64(5)
	}, "the analytics queue does not count 5 completed jobs")
	// The module's hourly prune is a stored schedule with a next tick.
	r = e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues/analytics/schedulers", admin, "")
	var scheds []struct {
		ID   string    `json:"id"`
		Cron string    `json:"cron"`
		Next time.Time `json:"next"`
	}
	if err := json.Unmarshal(r.Body, &scheds); err != nil || r.Status != 200 || len(scheds) != 1 ||
		scheds[0].ID != "analytics-prune" || scheds[0].Next.IsZero() {
		t.Fatalf("schedulers: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "PUT", api.BaseURL+"/api/v1/admin/queues/analytics/schedulers/x", admin,
		`{"name":"n","cron":"61 * * * *"}`); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "cron") {
		t.Fatalf("bad cron: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "PUT", api.BaseURL+"/api/v1/admin/queues/analytics/schedulers/x", admin,
		`{"name":"n","cron":"0 9 * * *","timeZone":"Mars/Base"}`); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "timeZone") {
		t.Fatalf("bad time zone: %d %s", r.Status, r.Body)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues/nope", admin, ""); r.Status != http.StatusNotFound {
		t.Fatalf("unknown queue: %d", r.Status)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/api/v1/admin/queues", user, ""); r.Status != http.StatusForbidden {
		t.Fatalf("queues as a user: %d", r.Status)
	}
}
