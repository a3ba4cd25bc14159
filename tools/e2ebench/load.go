package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// rig is a deployment with users, their tokens and sockets, and enough
// badges for every grant the run will make.
type rig struct {
	d      *deployment
	client *fasthttp.Client
	admin  string
	users  []int64
	tokens []string
	badges []int64
	next   int // next distinct (user, badge) pair to grant

	frame chan frameAt
	conns []*websocket.Conn
}

type frameAt struct {
	key [2]int64
	at  time.Time
}

func newClient() *fasthttp.Client {
	return &fasthttp.Client{
		MaxConnsPerHost: 1024, MaxConnWaitTimeout: 60 * time.Second,
		ReadTimeout: 60 * time.Second, WriteTimeout: 10 * time.Second,
	}
}

// do sends one request and returns the status and body.
func (r *rig) do(method, url, token, body string) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	if err := r.client.Do(req, resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// parallel runs f(i) for i in [0, n) on workers goroutines; the first error wins.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// newRig creates users (through the API, as an admin), their tokens (`api
// token`), grantsNeeded/users+1 badges (straight into the database: the
// API has no catalogue route) and opens one /ws socket per user.
func newRig(d *deployment, users, grantsNeeded int, sockets bool) (*rig, error) {
	r := &rig{d: d, client: newClient(), frame: make(chan frameAt, 1<<20)}
	var err error
	if r.admin, err = d.token(1, "admin"); err != nil {
		return nil, err
	}
	r.users = make([]int64, users)
	r.tokens = make([]string, users)
	err = parallel(users, 8, func(i int) error {
		st, body, err := r.do("POST", d.base+"/api/v1/users", r.admin,
			fmt.Sprintf(`{"username":"e2e%05d","email":"e2e%d@example.com","bio":%q}`, i, i, strings.Repeat("b", 120)))
		if err != nil || st != http.StatusCreated {
			return fmt.Errorf("create user: %d %s %v", st, body, err)
		}
		var u struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(body, &u); err != nil {
			return err
		}
		r.users[i] = u.ID
		r.tokens[i], err = d.token(u.ID, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range grantsNeeded/users + 1 {
		var id int64
		q := `INSERT INTO badges (name, icon) VALUES (` + d.ph + `, '*') RETURNING id`
		if err := d.db.QueryRow(q, fmt.Sprintf("e2ebench %d", i)).Scan(&id); err != nil {
			return nil, fmt.Errorf("add badge: %w", err)
		}
		r.badges = append(r.badges, id)
	}
	if sockets {
		ws := "ws" + strings.TrimPrefix(d.base, "http") + "/ws?token="
		for i := range users {
			conn, _, err := websocket.DefaultDialer.Dial(ws+r.tokens[i], nil)
			if err != nil {
				return nil, fmt.Errorf("open socket: %w", err)
			}
			r.conns = append(r.conns, conn)
			go r.read(conn)
		}
	}
	return r, nil
}

func (r *rig) close() {
	for _, c := range r.conns {
		c.Close()
	}
}

func (r *rig) read(conn *websocket.Conn) {
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		var f struct {
			UserID  int64 `json:"userId"`
			BadgeID int64 `json:"badgeId"`
		}
		if json.Unmarshal(msg, &f) != nil || f.BadgeID == 0 {
			continue
		}
		r.frame <- frameAt{key: [2]int64{f.UserID, f.BadgeID}, at: now}
	}
}

// ---- (1) cached reads against /healthz ----

type readResult struct {
	HealthRPS, ProfileRPS   float64
	HealthP99, ProfileP99   time.Duration
	Ratio                   float64
	HitShare                float64 // X-Cache: HIT among profile answers
	HealthReqs, ProfileReqs int
	// CPU a request of each kind, per part (the API, the worker, Redis,
	// this client): where the profile read's extra cost lies.
	HealthCPU, ProfileCPU map[string]time.Duration
}

// reads drives /healthz and the cached profile GET alternately, rounds
// times for seconds each, with conc connections.
func (r *rig) reads(seconds float64, rounds, conc int, profileDir string) (readResult, error) {
	// Warm: every profile once, so the measured loop reads the cache.
	if err := parallel(len(r.users), 8, func(i int) error {
		st, _, err := r.do("GET", r.profileURL(i), r.tokens[i], "")
		if err != nil || st != 200 {
			return fmt.Errorf("warm profile: %d %v", st, err)
		}
		return nil
	}); err != nil {
		return readResult{}, err
	}
	var res readResult
	var hLat, pLat []time.Duration
	var hTime, pTime time.Duration
	var hits int
	var hCPU, pCPU map[string]time.Duration
	// profile takes a CPU profile of the API during the first round's run
	// of one kind.
	profile := func(round int, file string) *sync.WaitGroup {
		var prof sync.WaitGroup
		if profileDir != "" && round == 0 {
			prof.Go(func() {
				fetchProfile(r.d.apiAdmin+"/debug/pprof/profile?seconds="+strconv.Itoa(max(1, int(seconds))),
					filepath.Join(profileDir, r.d.profile+"-api-"+file+".pprof"))
			})
		}
		return &prof
	}
	for round := range rounds {
		prof := profile(round, "healthz")
		c0 := r.d.cpu()
		n, lat, took, _, err := r.hammer(seconds, conc, func(int) (string, string) { return r.d.base + "/healthz", "" })
		if err != nil {
			return res, err
		}
		hCPU = addCPU(hCPU, r.d.cpu().since(c0, 1))
		prof.Wait()
		res.HealthReqs += n
		hLat, hTime = append(hLat, lat...), hTime+took
		prof = profile(round, "reads")
		c0 = r.d.cpu()
		n, lat, took, h, err := r.hammer(seconds, conc, func(i int) (string, string) {
			u := i % len(r.users)
			return r.profileURL(u), r.tokens[u]
		})
		if err != nil {
			return res, err
		}
		pCPU = addCPU(pCPU, r.d.cpu().since(c0, 1))
		prof.Wait()
		res.ProfileReqs += n
		hits += h
		pLat, pTime = append(pLat, lat...), pTime+took
	}
	res.HealthRPS = float64(res.HealthReqs) / hTime.Seconds()
	res.ProfileRPS = float64(res.ProfileReqs) / pTime.Seconds()
	res.HealthP99, res.ProfileP99 = pct(hLat, 99), pct(pLat, 99)
	res.Ratio = res.ProfileRPS / res.HealthRPS
	res.HitShare = float64(hits) / float64(res.ProfileReqs)
	res.HealthCPU, res.ProfileCPU = perRequest(hCPU, res.HealthReqs), perRequest(pCPU, res.ProfileReqs)
	return res, nil
}

// addCPU adds the CPU of one run to a sum.
func addCPU(sum, run map[string]time.Duration) map[string]time.Duration {
	if sum == nil {
		sum = map[string]time.Duration{}
	}
	for k, v := range run {
		sum[k] += v
	}
	return sum
}

// perRequest divides summed CPU by the requests it served.
func perRequest(sum map[string]time.Duration, n int) map[string]time.Duration {
	out := map[string]time.Duration{}
	if n <= 0 {
		return out
	}
	for k, v := range sum {
		out[k] = v / time.Duration(n)
	}
	return out
}

func (r *rig) profileURL(i int) string {
	return r.d.base + "/api/v1/users/" + strconv.FormatInt(r.users[i], 10) + "/profile"
}

// hammer sends GETs from conc closed-loop workers for seconds; it returns
// the requests answered 200, their latencies, the time taken and how many
// answered X-Cache: HIT.
func (r *rig) hammer(seconds float64, conc int, target func(i int) (url, token string)) (int, []time.Duration, time.Duration, int, error) {
	var mu sync.Mutex
	var all []time.Duration
	var hits, failed atomic.Int64
	var seq atomic.Int64
	start := time.Now()
	end := start.Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			mine := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(end) {
				url, tok := target(int(seq.Add(1)))
				req.SetRequestURI(url)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				t0 := time.Now()
				err := r.client.Do(req, resp)
				mine = append(mine, time.Since(t0))
				if err != nil || resp.StatusCode() != 200 {
					failed.Add(1)
					continue
				}
				if string(resp.Header.Peek("X-Cache")) == "HIT" {
					hits.Add(1)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		return 0, nil, 0, 0, fmt.Errorf("%d of %d reads failed", n, len(all))
	}
	return len(all), all, took, int(hits.Load()), nil
}

// ---- (2) analytics: HTTP enqueue rate against handled rate ----

type analyticsResult struct {
	Events                 int
	EnqueueRPS, HandledRPS float64
	Ratio                  float64
	Drain                  time.Duration // last 202 → every event counted
	Exact                  bool
}

// analytics posts events as fast as conc clients get 202s, then polls the
// admin daily counts until all are counted. profileDir, if set, receives
// CPU profiles and execution traces of the programs for the first
// profileSeconds, and the Redis commands the run sent (the difference of
// INFO commandstats before and after: on a shared Redis, other clients'
// commands count too).
func (r *rig) analytics(events, conc int, profileDir string, profileSeconds int) (analyticsResult, error) {
	res := analyticsResult{Events: events}
	name := fmt.Sprintf("e2ebench_%d", time.Now().UnixNano())
	body := `{"event":"` + name + `","data":{"via":"e2ebench"}}`
	var lastMu sync.Mutex
	var last time.Time
	var profWG sync.WaitGroup
	defer profWG.Wait()
	if profileDir != "" {
		r.profile(&profWG, profileDir, "analytics", profileSeconds)
		if before := r.d.commandStats(); before != nil {
			defer func() {
				writeCommandStats(filepath.Join(profileDir, r.d.profile+"-redis-analytics.txt"), before, r.d.commandStats())
			}()
		}
	}
	start := time.Now()
	err := parallel(events, conc, func(i int) error {
		u := i % len(r.users)
		st, b, err := r.do("POST", r.d.base+"/api/v1/analytics/events", r.tokens[u], body)
		if err != nil || st != http.StatusAccepted {
			return fmt.Errorf("track: %d %s %v", st, b, err)
		}
		now := time.Now()
		lastMu.Lock()
		if now.After(last) {
			last = now
		}
		lastMu.Unlock()
		return nil
	})
	if err != nil {
		return res, err
	}
	today := time.Now().UTC().Format(time.DateOnly)
	countURL := r.d.base + "/api/v1/admin/analytics/events?event=" + name + "&from=" + today + "&to=" + today
	deadline := time.Now().Add(5 * time.Minute)
	var got int
	for {
		st, b, err := r.do("GET", countURL, r.admin, "")
		if err != nil || st != 200 {
			return res, fmt.Errorf("counts: %d %s %v", st, b, err)
		}
		var c []struct {
			Count int `json:"count"`
		}
		_ = json.Unmarshal(b, &c)
		got = 0
		for _, x := range c {
			got += x.Count
		}
		if got >= events {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("analytics: %d of %d counted after 5 minutes", got, events)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := time.Now()
	res.EnqueueRPS = float64(events) / last.Sub(start).Seconds()
	res.HandledRPS = float64(events) / done.Sub(start).Seconds()
	res.Ratio = res.HandledRPS / res.EnqueueRPS
	res.Drain = done.Sub(last)
	res.Exact = got == events
	return res, nil
}

// ---- (3, 4) grants → websocket frames ----

type pushResult struct {
	Rate              int // asked, grants/s
	Sent, Delivered   int
	P50, P99, Max     time.Duration
	SteadyP99         time.Duration            // of the grants sent 1 s or more into the run
	CPU               map[string]time.Duration // per delivered grant, by part (cpu.go)
	PostP50, PostP99  time.Duration            // the grant POST alone
	DeliveredPerSec   float64
	Errors            int
	FramesMissingWait time.Duration
}

// push sends count grants paced open loop at rate/s to distinct (user,
// badge) pairs and waits for every NEW_BADGE frame. profileDir, if set,
// receives CPU profiles of the programs taken during the run.
func (r *rig) push(rate, count int, profileDir, seriesDir string) (pushResult, error) {
	res := pushResult{Rate: rate, Sent: count}
	if (r.next + count) > len(r.users)*len(r.badges) {
		return res, fmt.Errorf("out of distinct grants: %d used of %d", r.next, len(r.users)*len(r.badges))
	}
	// Drop frames of an earlier phase still in the channel.
	for len(r.frame) > 0 {
		<-r.frame
	}
	pairs := make([][2]int64, count)
	for i := range pairs {
		k := r.next + i
		pairs[i] = [2]int64{r.users[k%len(r.users)], r.badges[k/len(r.users)]}
	}
	r.next += count
	sent := make(map[[2]int64]time.Time, count)
	var sentMu sync.Mutex
	var postLat []time.Duration
	postOf := make(map[[2]int64]time.Duration, count) // for the series file
	var errs atomic.Int64
	interval := time.Second / time.Duration(rate)
	var profWG sync.WaitGroup
	if profileDir != "" {
		r.profile(&profWG, profileDir, strconv.Itoa(rate), max(1, int(time.Duration(count)*interval/time.Second)))
	}
	var wg sync.WaitGroup
	cpuStart := r.d.cpu()
	start := time.Now()
	for i, p := range pairs {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			body := `{"badgeId":` + strconv.FormatInt(p[1], 10) + `}`
			url := r.d.base + "/api/v1/users/" + strconv.FormatInt(p[0], 10) + "/badges"
			t0 := time.Now()
			sentMu.Lock()
			sent[p] = t0
			sentMu.Unlock()
			st, b, err := r.do("POST", url, r.admin, body)
			took := time.Since(t0)
			sentMu.Lock()
			postLat = append(postLat, took)
			postOf[p] = took
			sentMu.Unlock()
			if err != nil || st != http.StatusCreated {
				if errs.Add(1) == 1 {
					fmt.Fprintf(os.Stderr, "e2ebench: grant: %d %s %v\n", st, b, err)
				}
			}
		})
	}
	wg.Wait()
	var lat, steady []time.Duration
	var series strings.Builder
	var lastFrame time.Time
	deadline := time.After(60 * time.Second)
	seen := map[[2]int64]bool{}
wait:
	for len(seen) < count-int(errs.Load()) {
		select {
		case f := <-r.frame:
			sentMu.Lock()
			t0, ok := sent[f.key]
			sentMu.Unlock()
			if !ok || seen[f.key] {
				continue
			}
			seen[f.key] = true
			lat = append(lat, f.at.Sub(t0))
			if t0.Sub(start) >= time.Second {
				steady = append(steady, f.at.Sub(t0))
			}
			if seriesDir != "" {
				sentMu.Lock()
				fmt.Fprintf(&series, "%.1f\t%.2f\t%.2f\n", msf(t0.Sub(start)), msf(f.at.Sub(t0)), msf(postOf[f.key]))
				sentMu.Unlock()
			}
			if f.at.After(lastFrame) {
				lastFrame = f.at
			}
		case <-deadline:
			break wait
		}
	}
	// CPU from the first grant to the last frame: what the programs do
	// after it (email jobs still queued) is not counted.
	cpuEnd := r.d.cpu()
	profWG.Wait()
	if seriesDir != "" {
		// One line per delivered grant: sent at (ms from the first), grant →
		// frame (ms), the POST's own latency (ms); sort by the first column
		// to see whether slow grants come in bursts.
		file := filepath.Join(seriesDir, fmt.Sprintf("%s-push-%d.tsv", r.d.profile, rate))
		if err := os.WriteFile(file, []byte(series.String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "e2ebench: %v\n", err)
		}
	}
	res.Delivered, res.Errors = len(lat), int(errs.Load())
	res.P50, res.P99, res.Max = pct(lat, 50), pct(lat, 99), pct(lat, 100)
	res.SteadyP99 = pct(steady, 99)
	res.CPU = cpuEnd.since(cpuStart, len(lat))
	res.PostP50, res.PostP99 = pct(postLat, 50), pct(postLat, 99)
	if res.Delivered > 0 {
		res.DeliveredPerSec = float64(res.Delivered) / lastFrame.Sub(start).Seconds()
	}
	return res, nil
}

// profile starts a CPU profile and an execution trace of each program for
// secs seconds, into dir/<profile>-<program>-<phase>.{pprof,trace} (`go
// tool trace -pprof=sync|net|sched` turns a trace into where goroutines
// waited).
func (r *rig) profile(wg *sync.WaitGroup, dir, phase string, secs int) {
	for name, base := range map[string]string{"api": r.d.apiAdmin, "worker": r.d.workAdmin} {
		if base == "" {
			continue
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%s-%s", r.d.profile, name, phase))
		wg.Go(func() { fetchProfile(base+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), file+".pprof") })
		wg.Go(func() { fetchProfile(base+"/debug/pprof/trace?seconds="+strconv.Itoa(secs), file+".trace") })
	}
}

func fetchProfile(url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2ebench: profile %s: %v\n", url, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// settle waits until no queue has waiting or active jobs, so one phase's
// leftovers (emails, push jobs) do not load the next. Delayed jobs are not
// waited for: a module's schedule keeps its next run delayed.
// measured are the queues whose work the figures time: the grants'
// notifications and the analytics events. The channel queues (emails,
// push) drain at their own rate limits, a minute or more after a fast
// push (100 emails/s by default), and go on in the background.
var measured = map[string]bool{"notifications": true, "analytics": true}

func (r *rig) settle(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, b, err := r.do("GET", r.d.base+"/api/v1/admin/queues", r.admin, "")
		if err == nil && st == 200 {
			var qs []struct {
				Name            string
				Waiting, Active int
			}
			if json.Unmarshal(b, &qs) == nil {
				busy := 0
				for _, q := range qs {
					if measured[q.Name] {
						busy += q.Waiting + q.Active
					}
				}
				if busy == 0 {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pct is the p-th percentile (nearest rank) of d; it sorts d.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := (len(d)*p + 99) / 100
	return d[min(max(i-1, 0), len(d)-1)]
}

// msf is d in milliseconds.
func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
