package dashboard_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestSearch checks the job search of every queue backend through the
// admin API: what it finds (id, name, payload, error; any case; never a
// field name of the stored record), newest first, and that following
// Next finds the same jobs once each however the work is cut: by a page
// size of 1, by a budget of examined jobs, or by a deadline that has
// passed before the search starts (each call still examines a batch).
func TestSearch(t *testing.T) {
	for _, profile := range []string{"memory", "redis", "postgres"} {
		t.Run(profile, func(t *testing.T) {
			s := startSearchAPI(t, profile, 5000)
			ctx := context.Background()
			const n = 2500
			want := map[string]bool{}
			for i := 0; i < n; i += 500 {
				jobs := make([]queue.NewJob, 500)
				for k := range jobs {
					jobs[k] = queue.NewJob{Name: "load", Payload: map[string]any{"i": i + k, "note": "routine"}}
					switch i + k {
					case 3:
						jobs[k].Payload = map[string]any{"i": i + k, "note": "Needle"}
					case 1500:
						jobs[k].Payload = map[string]any{"i": i + k, "note": "a NEEDLE b"}
					case 2400:
						jobs[k].Name = "needleName"
					}
				}
				ids, err := s.enq.EnqueueBulk(ctx, testQueue, jobs)
				if err != nil {
					t.Fatal(err)
				}
				for k, id := range ids {
					if i+k == 3 || i+k == 1500 || i+k == 2400 {
						want[id] = true
					}
				}
			}
			s.failing.Store(true)
			failed := s.enqueue(t, "flaky", map[string]string{"note": "x"})
			s.waitState(t, failed, queue.StateFailed)
			// Its error holds quotes and a line break, which a stored
			// record may escape.
			shown := s.enqueue(t, "showcase", nil)
			s.waitState(t, shown, queue.StateFailed)
			waitCompleted(t, s, n)

			search := func(t *testing.T, state queue.State, word string, q queue.JobQuery) []string {
				t.Helper()
				q.State, q.Search = state, word
				var got []string
				var prev time.Time
				for pages := 0; ; pages++ {
					p, err := s.admin.Jobs(ctx, testQueue, q)
					if err != nil {
						t.Fatal(err)
					}
					if q.Budget > 0 && p.Scanned > q.Budget {
						t.Fatalf("page %d examined %d jobs, budget %d", pages, p.Scanned, q.Budget)
					}
					if p.Partial && (p.Next == "" || p.Scanned == 0) {
						t.Fatalf("page %d: partial with next %q after examining %d", pages, p.Next, p.Scanned)
					}
					for _, j := range p.Jobs {
						if slices.Contains(got, j.ID) {
							t.Fatalf("job %s found twice", j.ID)
						}
						if !prev.IsZero() && j.FinishedAt.Sub(prev) > 2*time.Millisecond {
							t.Fatalf("not newest first: %s after %s", j.FinishedAt, prev)
						}
						prev = j.FinishedAt
						got = append(got, j.ID)
					}
					if p.Next == "" {
						return got
					}
					if pages > n {
						t.Fatal("the search does not end")
					}
					q.Cursor = p.Next
				}
			}
			same := func(t *testing.T, got []string) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("found %v, want %v", got, want)
				}
				for _, id := range got {
					if !want[id] {
						t.Fatalf("found %v, want %v", got, want)
					}
				}
			}
			t.Run("whole", func(t *testing.T) { same(t, search(t, queue.StateCompleted, "nEeDlE", queue.JobQuery{Limit: 50})) })
			t.Run("page of one", func(t *testing.T) { same(t, search(t, queue.StateCompleted, "needle", queue.JobQuery{Limit: 1})) })
			t.Run("budget", func(t *testing.T) {
				same(t, search(t, queue.StateCompleted, "needle", queue.JobQuery{Limit: 50, Budget: 300}))
			})
			t.Run("deadline passed", func(t *testing.T) {
				same(t, search(t, queue.StateCompleted, "needle", queue.JobQuery{Limit: 50, Until: time.Unix(1, 0)}))
			})
			t.Run("concurrent searches", func(t *testing.T) {
				// Searches end early and hand their chunks back while
				// others take them: a chunk's reader must not touch it
				// once it handed it on (a data race the detector caught in
				// CI on the redis backend).
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						for range 30 {
							q := queue.JobQuery{State: queue.StateCompleted, Search: "needle", Limit: 1, Until: time.Unix(1, 0)}
							if _, err := s.admin.Jobs(ctx, testQueue, q); err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
			t.Run("field names", func(t *testing.T) {
				if got := search(t, queue.StateCompleted, "startedAt", queue.JobQuery{Limit: 50}); len(got) != 0 {
					t.Fatalf("a field name of the record matched %d jobs", len(got))
				}
			})
			t.Run("cursor of a removed job", func(t *testing.T) {
				p, err := s.admin.Jobs(ctx, testQueue, queue.JobQuery{State: queue.StateCompleted, Search: "needle", Limit: 1})
				if err != nil || len(p.Jobs) != 1 || p.Next == "" {
					t.Fatalf("first page: %+v %v", p, err)
				}
				first := p.Jobs[0].ID
				if err := s.admin.Act(ctx, testQueue, first, queue.ActRemove); err != nil {
					t.Fatal(err)
				}
				delete(want, first)
				same(t, search(t, queue.StateCompleted, "needle", queue.JobQuery{Limit: 50, Cursor: p.Next}))
			})
			t.Run("error", func(t *testing.T) {
				if got := search(t, queue.StateFailed, "UPSTREAM answered", queue.JobQuery{Limit: 50}); !slices.Equal(got, []string{failed}) {
					t.Fatalf("found %v, want %s", got, failed)
				}
			})
			t.Run("error with quotes", func(t *testing.T) {
				if got := search(t, queue.StateFailed, `template "WEEKLY"`, queue.JobQuery{Limit: 50}); !slices.Equal(got, []string{shown}) {
					t.Fatalf("found %v, want %s", got, shown)
				}
			})
		})
	}
}

func waitCompleted(t testing.TB, s *server, n int64) {
	t.Helper()
	testenv.Eventually(t, 5*time.Minute, func() bool {
		st, err := s.admin.QueueStats(context.Background(), testQueue)
		return err == nil && st.Completed >= n
	}, "%d jobs did not complete", n)
}
