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

// BenchmarkSearch100k measures the dashboard's search over 100,000
// retained completed jobs on each queue backend, in its two worst cases:
// the word only in the oldest job ("oldest"), and a word no job holds
// ("none"). Through the HTTP API it times the first answer and the whole
// search (following the "partial" cursors to the word, or to the end);
// in the page ("browser") it times each search, from the Enter key in the
// search box until its row (or "No job matches.") shows. It asserts nothing.
//
//	go test -run '^$' -bench Search100k -benchtime 5x ./tests/dashboard/
func BenchmarkSearch100k(b *testing.B) {
	for _, profile := range []string{"memory", "redis", "postgres"} {
		b.Run(profile, func(b *testing.B) {
			const n = 100_000
			s := startSearchAPI(b, profile, n)
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
			testenv.Eventually(b, 10*time.Minute, func() bool {
				st, err := s.admin.QueueStats(ctx, testQueue)
				return err == nil && st.Completed >= n
			}, "jobs did not complete")
			b.Logf("%s: %d jobs enqueued and completed in %s", profile, n, time.Since(start).Round(time.Millisecond))

			for _, c := range []struct{ name, word string }{{"oldest", "needle"}, {"none", "nowhere"}} {
				b.Run(c.name, func(b *testing.B) {
					var first, whole time.Duration
					var requests, found int
					for range b.N {
						t0 := time.Now()
						page := searchPage(b, s, c.word, "")
						first += time.Since(t0)
						requests++
						found = len(page.Jobs)
						for found == 0 && page.Next != nil {
							page = searchPage(b, s, c.word, *page.Next)
							found += len(page.Jobs)
							requests++
						}
						whole += time.Since(t0)
					}
					if want := map[string]int{"oldest": 1, "none": 0}[c.name]; found != want {
						b.Fatalf("found %d jobs with %q, want %d", found, c.word, want)
					}
					b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "ms/first-answer")
					b.ReportMetric(float64(whole.Microseconds())/1000/float64(b.N), "ms/whole-search")
					b.ReportMetric(float64(requests)/float64(b.N), "requests/search")
					b.ReportMetric(0, "ns/op")
				})
			}

			// The same searches typed into the page, to the row with the
			// word, or "No job matches.", shown.
			b.Run("browser", func(b *testing.B) {
				tab := newBrowser(b).tab(b)
				run(b, tab, "sign in", signIn(s.base, s.vTk, "#/q/"+testQueue+"/completed"), chromedp.WaitVisible(css(`tbody tr`)))
				var oldest, none time.Duration
				for range b.N {
					for _, c := range []struct {
						word string
						done chromedp.Action[chromedp.Void]
						took *time.Duration
					}{
						{"needle", chromedp.Poll[chromedp.Void](`!!document.querySelector('` + row(id) + `')`), &oldest},
						{"nowhere", chromedp.Poll[chromedp.Void](`document.querySelector('p[role=status]').textContent === "No job matches."`), &none},
					} {
						run(b, tab, "reset", chromedp.Navigate(s.base+"/admin#/q/"+testQueue+"/completed"), chromedp.WaitVisible(css(`tbody tr`)),
							chromedp.Poll[chromedp.Void](`!document.querySelector('#search').value`),
							chromedp.SetValue(css(`#search`), c.word))
						eval[bool](b, tab, inPageProbe)
						// Timed from the Enter key, the typing left out.
						t0 := time.Now()
						run(b, tab, "search "+c.word, chromedp.SendKeys(css(`#search`), "\r"), c.done)
						*c.took += time.Since(t0)
						p := eval[[]float64](b, tab, inPageRead+`(`+"`"+c.word+"`"+`)`, chromedp.EvalAwaitPromise)
						b.Logf("%s: Enter to frame %.0f ms in the page (to the request %.0f, request %.0f, answer to frame %.0f), %d requests; outside %s",
							c.word, p[0], p[1], p[2], p[3], int(p[4]), time.Since(t0).Round(time.Millisecond))
					}
				}
				b.ReportMetric(float64(oldest.Microseconds())/1000/float64(b.N), "ms/typed-oldest")
				b.ReportMetric(float64(none.Microseconds())/1000/float64(b.N), "ms/typed-none")
				b.ReportMetric(0, "ns/op")
			})
		})
	}
}

// startSearchAPI runs the API on a queue backend ("memory", "redis" or
// "postgres") that keeps n completed jobs.
func startSearchAPI(b testing.TB, profile string, n int) *server {
	env := []string{fmt.Sprintf("TIPBOX_QUEUE_RETENTION_COMPLETED=%d", n+1000), "TIPBOX_LOG_LEVEL=error"}
	file := ""
	switch profile {
	case "redis":
		addr := testenv.RedisAddr(b)
		prefix := testenv.Prefix(b)
		b.Cleanup(func() { testenv.DeleteKeys(b, addr, prefix) })
		file = "configs/redis.yaml"
		env = append(env, "REDIS_URL=redis://"+addr+"/0", "TIPBOX_WORKER_EMBEDDED=true",
			"TIPBOX_QUEUE_REDIS_PREFIX="+prefix, "TIPBOX_CACHE_REDIS_PREFIX="+prefix, "TIPBOX_REALTIME_REDIS_CHANNEL_PREFIX="+prefix)
	case "postgres":
		env = append(env, "TIPBOX_DATABASE_DRIVER=postgres", "TIPBOX_DATABASE_DSN="+testenv.PostgresDSN(b), "TIPBOX_QUEUE_DRIVER=postgres")
	}
	return startAPI(b, file, env...)
}

type searchAnswer struct {
	Jobs    []json.RawMessage `json:"jobs"`
	Next    *string           `json:"next"`
	Partial bool              `json:"partial"`
	Scanned int               `json:"scanned"`
}

// searchPage is one GET of the dashboard's search.
func searchPage(b *testing.B, s *server, word, cursor string) searchAnswer {
	u := s.base + "/api/v1/admin/queues/" + testQueue + "/jobs?state=completed&limit=50&q=" + url.QueryEscape(word)
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
	var page searchAnswer
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		b.Fatalf("search: %d %v", resp.StatusCode, err)
	}
	return page
}

// inPageProbe notes, in the page, when the Enter key is pressed in the
// search box and the first frame drawn after the view changes.
const inPageProbe = `(() => {
	const t = window.__probe = {frames: []};
	performance.clearResourceTimings();
	document.querySelector('#search').addEventListener('keydown', (e) => { if (e.key === 'Enter') t.key = e.timeStamp; }, {once: true});
	new MutationObserver(() => { t.mut = performance.now(); requestAnimationFrame((ts) => t.frames.push(ts)); })
		.observe(document.querySelector('#view'), {subtree: true, childList: true, characterData: true});
	return true;
})()`

// inPageRead returns, for the search of a word: Enter to the last
// frame after a change, Enter to the first search request, the requests'
// time, the last answer to that frame, and the number of requests.
const inPageRead = `((word) => new Promise((res) => requestAnimationFrame(() => {
	const t = window.__probe;
	const rs = performance.getEntriesByType('resource').filter((r) => r.name.includes('q=' + word));
	const frame = t.frames[t.frames.length - 1];
	const first = rs.length ? rs[0].startTime : NaN, end = rs.length ? rs[rs.length - 1].responseEnd : NaN;
	res([frame - t.key, first - t.key, end - first, frame - end, rs.length]);
})))`
