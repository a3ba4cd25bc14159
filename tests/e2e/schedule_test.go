package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A schedule every second on the Redis profile with two API processes and
// three cmd/worker processes, on the Redis queue and on the PostgreSQL
// queue. For 30 s with all five running, every second's tick makes its job
// (30 of them, by id), and each job runs once. Then all five are stopped,
// left down for more than two ticks and started again: the ticks of the
// gap are skipped (missed: skip), every tick once they are back is made,
// and still no job runs twice.
func TestScheduleEverySecondAcrossPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run of 30 s; skipped with -short")
	}
	t.Parallel()
	for _, driver := range []string{"redis", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			scheduleAcrossPrograms(t, driver)
		})
	}
}

const (
	schedQueue = "analytics"
	schedID    = "every-second"
)

func scheduleAcrossPrograms(t *testing.T, driver string) {
	rs := testenv.StartRedis(t)
	env := []string{
		"REDIS_URL=redis://" + rs.Addr() + "/0", "DATABASE_URL=" + testenv.PostgresDSN(t),
		"TIPBOX_QUEUE_DRIVER=" + driver,
		"TIPBOX_LOG_LEVEL=warn",
		// The test polls the job lists: not a rate limit test.
		"TIPBOX_HTTP_RATE_LIMIT_RPS=0",
		// Ten processes of this test beside other tests on the shared
		// PostgreSQL (max_connections 100).
		"TIPBOX_DATABASE_WARM_CONNS=1",
	}
	profile := []string{"--config", "configs/redis.yaml"}
	admin := e2e.Token(t, 1, "admin")

	// start runs the two API and three worker processes; the first API
	// migrates the database before the others start.
	start := func() []*e2e.Proc {
		a := e2e.StartAPI(t, env, profile...)
		procs := []*e2e.Proc{a, e2e.StartAPI(t, env, profile...)}
		for range 3 {
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			w := e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), append(env, "TIPBOX_WORKER_ADMIN_ADDR="+addr), profile...)
			w.BaseURL = "http://" + addr
			procs = append(procs, w)
		}
		for _, p := range procs[2:] {
			p.WaitReady(30 * time.Second)
		}
		return procs
	}

	procs := start()
	base := procs[0].BaseURL
	r := e2e.Do(t, "PUT", base+"/api/v1/admin/queues/"+schedQueue+"/schedulers/"+schedID, admin,
		`{"name":"prune","every":"1s","priority":"low","missed":"skip"}`)
	if r.Status != 200 {
		t.Fatalf("PUT scheduler: %d %s", r.Status, r.Body)
	}
	putAt := time.Now()
	// Every process reads the schedules at start and then every 10 s; the
	// window starts once all five must have read it.
	windowFrom := putAt.Add(11 * time.Second).Truncate(time.Second)
	windowTo := windowFrom.Add(30 * time.Second)
	// The run lasts until the window's last tick has its job.
	ticks := waitTicks(t, base, admin, windowTo, 60*time.Second)
	var inWindow []int64
	for _, ms := range ticks {
		if ms > windowFrom.UnixMilli() && ms <= windowTo.UnixMilli() {
			inWindow = append(inWindow, ms)
		}
	}
	if len(inWindow) != 30 {
		t.Fatalf("%d jobs for the ticks in (%s, %s], want 30: %v", len(inWindow),
			windowFrom.Format(time.TimeOnly), windowTo.Format(time.TimeOnly), inWindow)
	}
	// Until every process has read the schedule, only the API that took
	// the PUT fires it; that one process running late skips ticks, by the
	// skip policy, so the ticks before the window are not all required.
	if first := time.UnixMilli(ticks[0]); first.Before(putAt.Add(-time.Second)) || first.After(putAt.Add(2*time.Second)) {
		t.Fatalf("first tick %s, the scheduler was put at %s", first.Format(time.StampMilli), putAt.Format(time.StampMilli))
	}

	// All five stop; none runs for more than two ticks; all five start.
	stopAt := time.Now()
	for _, p := range procs {
		p.Signal(syscall.SIGINT)
	}
	for _, p := range procs {
		if code := p.Wait(30 * time.Second); code != 0 {
			t.Fatalf("exit code %d\n%s", code, p.Output())
		}
	}
	downAt := time.Now()
	time.Sleep(time.Until(downAt.Add(2500 * time.Millisecond))) // the gap is what is tested
	upAt := time.Now()
	procs = start()
	base = procs[0].BaseURL
	readyAt := time.Now()
	endAt := readyAt.Add(5 * time.Second)
	ticks = waitTicks(t, base, admin, endAt, 30*time.Second)

	// Up to the stop (a tick due as they stop may be skipped).
	everySecond(t, ticks, ticks[0], stopAt.Add(-time.Second).UnixMilli())
	var gap []int64
	for _, ms := range ticks {
		if ms > downAt.UnixMilli() && ms <= upAt.UnixMilli() {
			gap = append(gap, ms)
		}
	}
	if len(gap) > 0 {
		t.Fatalf("ticks made while every process was down (%s to %s): %v",
			downAt.Format(time.StampMilli), upAt.Format(time.StampMilli), gap)
	}
	everySecond(t, ticks, time.UnixMilli(readyAt.UnixMilli()).Truncate(time.Second).Add(time.Second).UnixMilli(), endAt.UnixMilli())

	// Each job ran once: the completions counted equal the jobs, all
	// completed and none failed.
	var counts struct{ Waiting, Active, Delayed, Failed int }
	testenv.Eventually(t, 30*time.Second, func() bool {
		r := e2e.Do(t, "GET", base+"/api/v1/admin/queues/"+schedQueue, admin, "")
		_ = json.Unmarshal(r.Body, &counts)
		return r.Status == 200 && counts.Waiting == 0 && counts.Active == 0 && counts.Delayed == 0
	}, "the queue did not drain: %+v", testenv.Later(func() any { return counts }))
	if counts.Failed != 0 {
		t.Fatalf("failed jobs: %+v", counts)
	}
	done := listJobs(t, base, admin, "completed")
	mine := 0
	for _, id := range done {
		if strings.HasPrefix(id, schedID+"@") {
			mine++
		}
	}
	if mine != len(ticks) {
		t.Fatalf("%d of the schedule's %d jobs completed", mine, len(ticks))
	}
	if n := completions(t, base, admin); n != len(done) {
		t.Fatalf("%d completions counted for %d completed jobs (%d of the schedule): a job ran twice", n, len(done), mine)
	}
	t.Logf("%s: %d ticks, 30 in the window, %d skipped while down, %d completions for %d completed jobs",
		driver, len(ticks), (upAt.UnixMilli()-downAt.UnixMilli())/1000, completions(t, base, admin), len(done))
}

// waitTicks waits until the schedule's job for the tick at `until` exists
// and returns the ticks (Unix ms) of all its jobs, oldest first.
func waitTicks(t *testing.T, base, admin string, until time.Time, timeout time.Duration) []int64 {
	t.Helper()
	last := until.Truncate(time.Second).UnixMilli()
	var ticks []int64
	testenv.Eventually(t, time.Until(until)+timeout, func() bool {
		ticks = scheduleTicks(t, base, admin)
		return len(ticks) > 0 && ticks[len(ticks)-1] >= last
	}, "no job for the tick at %s; ticks %v", until.Format(time.StampMilli), testenv.Later(func() any { return ticks }))
	return ticks
}

// scheduleTicks lists the schedule's jobs in every state and returns their
// ticks, oldest first; a tick met twice fails the test.
func scheduleTicks(t *testing.T, base, admin string) []int64 {
	t.Helper()
	var ticks []int64
	seen := map[string]bool{}
	for _, state := range []string{"waiting", "active", "delayed", "completed", "failed"} {
		for _, id := range listJobs(t, base, admin, state) {
			tick, ok := strings.CutPrefix(id, schedID+"@")
			if !ok {
				continue
			}
			// A job may move between states while the states are read.
			if seen[id] {
				continue
			}
			seen[id] = true
			ms, err := strconv.ParseInt(tick, 10, 64)
			if err != nil {
				t.Fatalf("job id %q", id)
			}
			ticks = append(ticks, ms)
		}
	}
	slices.Sort(ticks)
	return ticks
}

func listJobs(t *testing.T, base, admin, state string) []string {
	t.Helper()
	r := e2e.Do(t, "GET", base+"/api/v1/admin/queues/"+schedQueue+"/jobs?limit=1000&state="+url.QueryEscape(state), admin, "")
	var page struct {
		Jobs []struct{ ID string }
		Next *string
	}
	if r.Status != 200 {
		t.Fatalf("list %s jobs: %d %s", state, r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if page.Next != nil {
		t.Fatalf("more than 1000 %s jobs", state)
	}
	ids := make([]string, len(page.Jobs))
	for i, j := range page.Jobs {
		ids[i] = j.ID
	}
	return ids
}

// completions is the queue's completions counted in the last hour.
func completions(t *testing.T, base, admin string) int {
	t.Helper()
	r := e2e.Do(t, "GET", base+"/api/v1/admin/queues/"+schedQueue+"/metrics?range=1h", admin, "")
	var mins []struct{ Completed int }
	if r.Status != 200 || json.Unmarshal(r.Body, &mins) != nil {
		t.Fatalf("metrics: %d %s", r.Status, r.Body)
	}
	n := 0
	for _, m := range mins {
		n += m.Completed
	}
	return n
}

// everySecond fails unless ticks holds every whole second in [from, to]
// (Unix ms; from rounded up to a second).
func everySecond(t *testing.T, ticks []int64, from, to int64) {
	t.Helper()
	from = (from + 999) / 1000 * 1000
	var missing []string
	for ms := from; ms <= to; ms += 1000 {
		if _, ok := slices.BinarySearch(ticks, ms); !ok {
			missing = append(missing, time.UnixMilli(ms).Format(time.StampMilli))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("no job for the ticks %v (from %s to %s); ticks %v", missing,
			time.UnixMilli(from).Format(time.StampMilli), time.UnixMilli(to).Format(time.StampMilli), ticks)
	}
}
