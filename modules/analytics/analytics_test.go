package analytics_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/analytics"
	"github.com/tipbox/tipbox/modules/analytics/migrations"
)

func event(t testing.TB, id, name string, at time.Time) *queue.Job {
	b, err := json.Marshal(analytics.Event{Event: name, UserID: 1, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return &queue.Job{ID: id, Queue: analytics.Queue, Name: analytics.JobName, Payload: b}
}

// Concurrent batches are counted, a redelivered job is counted once,
// counts are per event and UTC day, and a bad job fails alone.
func TestAggregator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := analytics.NewStore(dbtest.Open(t, backend, database.Migrations{Module: "analytics", FS: migrations.FS}))
		agg := analytics.NewAggregator(store, 16, 5*time.Millisecond, slog.New(slog.DiscardHandler))
		ctx := t.Context()
		day1 := time.Date(2026, 11, 26, 23, 59, 0, 0, time.UTC)
		day2 := day1.Add(2 * time.Minute)
		var wg sync.WaitGroup
		for b := range 10 { // ten batches of ten, at once
			wg.Go(func() {
				var jobs []*queue.Job
				for i := b * 10; i < b*10+10; i++ {
					at, name := day1, "user_login"
					if i%4 == 0 {
						at = day2
					}
					if i%10 == 0 {
						name = "post_created"
					}
					jobs = append(jobs, event(t, fmt.Sprintf("job-%d", i), name, at))
				}
				for i, err := range agg.HandleBatch(ctx, jobs) {
					if err != nil {
						t.Errorf("batch %d job %d: %v", b, i, err)
					}
				}
			})
		}
		wg.Wait()
		// Redelivery of ten jobs adds nothing.
		var again []*queue.Job
		for i := range 10 {
			again = append(again, event(t, fmt.Sprintf("job-%d", i*3), "user_login", day1))
		}
		for _, err := range agg.HandleBatch(ctx, again) {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := store.Counts(ctx, "", "2026-11-26", "2026-11-27")
		if err != nil {
			t.Fatal(err)
		}
		// i%10==0 → post_created (10: day2 when i%4==0 too: i=0,20,40,60,80 → 5 on each day)
		want := []analytics.Count{
			{Event: "post_created", Day: "2026-11-26", Count: 5},
			{Event: "post_created", Day: "2026-11-27", Count: 5},
			{Event: "user_login", Day: "2026-11-26", Count: 70},
			{Event: "user_login", Day: "2026-11-27", Count: 20},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("counts %v, want %v", got, want)
		}
		one, _ := store.Counts(ctx, "post_created", "2026-11-27", "2026-11-27")
		if len(one) != 1 || one[0].Count != 5 {
			t.Fatalf("filtered %v", one)
		}
		errs := agg.HandleBatch(ctx, []*queue.Job{
			{ID: "bad", Payload: json.RawMessage(`{"event":"bad name!"}`)},
			event(t, "good", "user_login", day1),
		})
		if !queue.IsPermanent(errs[0]) || errs[1] != nil {
			t.Fatalf("a bad job in a batch: %v", errs)
		}
	})
}

// One batch larger than a statement's rows, with ids repeated inside it
// and ids counted by an earlier batch, counts each new id once, and many
// (event, day) pairs in one batch each get their own count.
func TestAggregatorLargeBatch(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := analytics.NewStore(dbtest.Open(t, backend, database.Migrations{Module: "analytics", FS: migrations.FS}))
		agg := analytics.NewAggregator(store, 5000, 5*time.Millisecond, slog.New(slog.DiscardHandler))
		ctx := t.Context()
		day := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		var first []*queue.Job
		for i := range 300 {
			first = append(first, event(t, fmt.Sprintf("job-%d", i), "user_login", day))
		}
		for _, err := range agg.HandleBatch(ctx, first) {
			if err != nil {
				t.Fatal(err)
			}
		}
		// 2500 new ids (job-300 … job-2799), each twice, plus the 300 seen.
		var jobs []*queue.Job
		for i := 300; i < 2800; i++ {
			at := day.Add(time.Duration(i%3) * 24 * time.Hour)
			name := fmt.Sprintf("e%d", i%1200) // 1200 names, more than one statement's rows
			jobs = append(jobs, event(t, fmt.Sprintf("job-%d", i), name, at), event(t, fmt.Sprintf("job-%d", i), name, at))
		}
		jobs = append(jobs, first...)
		for i, err := range agg.HandleBatch(ctx, jobs) {
			if err != nil {
				t.Fatalf("job %d: %v", i, err)
			}
		}
		got, err := store.Counts(ctx, "", "2026-11-26", "2026-11-28")
		if err != nil {
			t.Fatal(err)
		}
		want := map[analytics.Count]bool{{Event: "user_login", Day: "2026-11-26", Count: 300}: true}
		n := map[[2]string]int64{}
		for i := 300; i < 2800; i++ {
			n[[2]string{fmt.Sprintf("e%d", i%1200), day.Add(time.Duration(i%3) * 24 * time.Hour).Format(time.DateOnly)}]++
		}
		for k, c := range n {
			want[analytics.Count{Event: k[0], Day: k[1], Count: c}] = true
		}
		var total int64
		for _, c := range got {
			if !want[c] {
				t.Errorf("unexpected count %v", c)
			}
			total += c.Count
		}
		if len(got) != len(want) || total != 2800 {
			t.Fatalf("%d counts totalling %d, want %d totalling 2800", len(got), total, len(want))
		}
	})
}
