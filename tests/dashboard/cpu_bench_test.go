package dashboard_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tipbox/tipbox/core/queue"
)

// BenchmarkDashboardCPU measures what one open dashboard tab adds to the
// API's CPU while 1,000 jobs/s flow through the embedded profile: the
// process's CPU time over 10 s without a tab, then with the overview open
// (its event stream and the count refreshes it triggers). The browser is
// another process and is not counted, and the tab is detached from
// chromedp while measuring. It asserts nothing.
//
//	go test -run '^$' -bench DashboardCPU -benchtime 1x ./tests/dashboard/
func BenchmarkDashboardCPU(b *testing.B) {
	s := startAPI(b, "", "TIPBOX_LOG_LEVEL=error")
	ctx := context.Background()
	const rate, window = 1000, 10 * time.Second
	phase := func() float64 {
		var before, after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for time.Since(start) < window {
			<-tick.C
			jobs := make([]queue.NewJob, rate/100)
			for i := range jobs {
				jobs[i] = queue.NewJob{Name: "load", Payload: map[string]int{"i": i}}
			}
			if _, err := s.enq.EnqueueBulk(ctx, testQueue, jobs); err != nil {
				b.Fatal(err)
			}
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
		return 100 * cpu.Seconds() / time.Since(start).Seconds()
	}
	for range b.N {
		without := phase()
		// The tab is left open and detached: chromedp's own reading of its
		// DevTools events would otherwise count as this process's CPU.
		tab, detach := chromedp.NewContext(newBrowser(b).ctx, chromedp.WithDetachOnCancel())
		run(b, tab, "overview", signIn(s.base, s.vTk, "#/"), chromedp.WaitVisible(css(`#live.on`)))
		detach()
		with := phase()
		b.Logf("API process CPU at %d jobs/s: %.1f %% of one core without a tab, %.1f %% with the overview open (+%.1f points)",
			rate, without, with, with-without)
		b.ReportMetric(without, "cpu%-no-tab")
		b.ReportMetric(with, "cpu%-one-tab")
	}
}
