package redis

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// BenchmarkSearchFinished searches 100,000 completed jobs (the records of
// the dashboard's search benchmark, written directly) for a word no job
// holds, so every record is read and matched; one op is one whole search
// in one call. It reports the Redis server's CPU per search (run it on a
// Redis nobody else uses, TIPBOX_TEST_REDIS_ADDR) and this process's.
//
//	go test -run '^$' -bench SearchFinished -benchtime 10x ./adapters/queue/redis/
func BenchmarkSearchFinished(b *testing.B) {
	const n = 100_000
	qcfg := queuetest.Config()
	qcfg.Queues = []string{"search"}
	qcfg.Retention.Completed = n + 1000
	be, _ := openTestBackend(b, goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(b)}), qcfg)
	admin := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(b)})
	b.Cleanup(func() { _ = admin.Close() })
	fillCompleted(b, be, "search", n)
	runtime.GC() // the fill's garbage, not the search's
	ctx := context.Background()
	r0, c0 := serverCPU(b, admin), processCPU()
	b.ResetTimer()
	for range b.N {
		page, err := be.Jobs(ctx, "search", queue.JobQuery{State: queue.StateCompleted, Search: "nowhere", Limit: 50})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Jobs) != 0 || page.Scanned != n || page.Partial {
			b.Fatalf("found %d, scanned %d, partial %v", len(page.Jobs), page.Scanned, page.Partial)
		}
	}
	b.StopTimer()
	r1, c1 := serverCPU(b, admin), processCPU()
	b.ReportMetric((r1-r0)*1e3/float64(b.N), "redis-ms/search")
	b.ReportMetric(float64((c1-c0).Microseconds())/1e3/float64(b.N), "go-ms/search")
}

// fillCompleted writes n completed jobs of queue q as the settle script
// leaves them (record and list element), the newest last.
func fillCompleted(b *testing.B, be *Backend, q string, n int) {
	ctx := context.Background()
	k := be.keys[q]
	t0 := time.Now().Add(-time.Hour)
	for i := 0; i < n; i += 1000 {
		pipe := be.client.Pipeline()
		els := make([]any, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			at := t0.Add(time.Duration(j) * time.Millisecond)
			id := "j" + strconv.Itoa(j) + "-" + strconv.FormatInt(at.UnixNano(), 36)
			job := &queue.Job{ID: id, Queue: q, Name: "load", State: queue.StateCompleted, Attempt: 1, MaxAttempts: 3,
				Payload:    []byte(fmt.Sprintf(`{"event":"page_view","i":%d,"note":"routine","path":"/articles/%d","user":%d}`, j, j%5000, 1000+j%977)),
				EnqueuedAt: at, RunAt: at, StartedAt: at, FinishedAt: at, Percent: 100}
			pipe.HSet(ctx, k.jobs, id, encodeRecord(job))
			els = append(els, strconv.FormatInt(at.UnixMilli(), 10)+"|"+id)
		}
		pipe.LPush(ctx, k.completed, els...)
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
