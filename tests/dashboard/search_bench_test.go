package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// BenchmarkSearch100k measures what the dashboard's search box costs over
// 100,000 retained completed jobs, through the HTTP API: one request (the
// server examines up to its search budget, then answers "partial" with a
// cursor) and a whole search that follows the cursors to the oldest job,
// whose payload holds the word. It asserts nothing.
//
//	go test -run '^$' -bench Search100k -benchtime 5x ./tests/dashboard/
func BenchmarkSearch100k(b *testing.B) {
	for _, profile := range []string{"memory", "redis"} {
		b.Run(profile, func(b *testing.B) {
			const n = 100_000
			env := []string{fmt.Sprintf("TIPBOX_QUEUE_RETENTION_COMPLETED=%d", n+1000), "TIPBOX_LOG_LEVEL=error"}
			file := ""
			if profile == "redis" {
				addr := testenv.RedisAddr(b)
				prefix := testenv.Prefix(b)
				b.Cleanup(func() { testenv.DeleteKeys(b, addr, prefix) })
				file = "configs/redis.yaml"
				env = append(env, "REDIS_URL=redis://"+addr+"/0", "TIPBOX_WORKER_EMBEDDED=true",
					"TIPBOX_QUEUE_REDIS_PREFIX="+prefix, "TIPBOX_CACHE_REDIS_PREFIX="+prefix, "TIPBOX_REALTIME_REDIS_CHANNEL_PREFIX="+prefix)
			}
			s := startAPI(b, file, env...)
			ctx := context.Background()
			start := time.Now()
			var id string // of the oldest job, the one with the word
			for i := 0; i < n; i += 1000 {
				jobs := make([]queue.NewJob, 1000)
				for k := range jobs {
					word := "routine"
					if i+k == 0 {
						word = "needle"
					}
					jobs[k] = queue.NewJob{Name: "load", Payload: map[string]any{"i": i + k, "user": 1000 + (i+k)%977,
						"event": "page_view", "path": "/articles/" + fmt.Sprint((i+k)%5000), "note": word}}
				}
				ids, err := s.enq.EnqueueBulk(ctx, testQueue, jobs)
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					id = ids[0]
				}
			}
			testenv.Eventually(b, 5*time.Minute, func() bool {
				st, err := s.admin.QueueStats(ctx, testQueue)
				return err == nil && st.Completed >= n
			}, "jobs did not complete")
			b.Logf("%s: %d jobs enqueued and completed in %s", profile, n, time.Since(start).Round(time.Millisecond))

			get := func(cursor string) (found int, next string, partial bool) {
				u := s.base + "/api/v1/admin/queues/" + testQueue + "/jobs?state=completed&limit=50&q=needle"
				if cursor != "" {
					u += "&cursor=" + url.QueryEscape(cursor)
				}
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+s.vTk)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				var page struct {
					Jobs    []json.RawMessage `json:"jobs"`
					Next    *string           `json:"next"`
					Partial bool              `json:"partial"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
					b.Fatalf("search: %d %v", resp.StatusCode, err)
				}
				if page.Next != nil {
					next = *page.Next
				}
				return len(page.Jobs), next, page.Partial
			}
			var first, whole time.Duration
			var requests int
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				found, next, partial := get("")
				first += time.Since(t0)
				requests++
				for found == 0 && next != "" {
					var more int
					more, next, partial = get(next)
					found += more
					requests++
				}
				whole += time.Since(t0)
				if found != 1 {
					b.Fatalf("found %d jobs with the word (partial %v)", found, partial)
				}
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms/first-answer")
			b.ReportMetric(float64(whole.Milliseconds())/float64(b.N), "ms/whole-search")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/search")

			// The same search typed into the page, until its row shows.
			b.StopTimer()
			tab := newBrowser(b).tab(b)
			run(b, tab, "sign in", signIn(s.base, s.vTk, "#/q/"+testQueue+"/completed"), chromedp.WaitVisible(css(`tbody tr`)))
			t0 := time.Now()
			run(b, tab, "search", chromedp.SendKeys(css(`#search`), "needle\r"), chromedp.WaitVisible(css(row(id))))
			b.Logf("%s: search typed in the page, to its row shown: %s", profile, time.Since(t0).Round(time.Millisecond))
		})
	}
}
