package bench_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// grantRig is a running deployment with users connected by websocket.
type grantRig struct {
	grantBase string // where grants are sent
	admin     string
	users     []int64
	badges    []int64

	mu      sync.Mutex
	sent    map[[2]int64]time.Time
	latency []time.Duration
	got     chan struct{}
}

const (
	rigUsers  = 50
	rigBadges = 40 // 2,000 distinct grants
)

// newGrantRig creates users and badges through apiA, connects every user's
// socket to sockBase and grants through grantBase.
func newGrantRig(b *testing.B, apiA, sockBase, grantBase string, addBadge func(name string) int64) *grantRig {
	r := &grantRig{grantBase: grantBase, admin: e2e.Token(b, 1, "admin"), sent: map[[2]int64]time.Time{}, got: make(chan struct{}, 1<<16)}
	for i := range rigBadges {
		r.badges = append(r.badges, addBadge(fmt.Sprintf("Bench %d", i)))
	}
	for i := range rigUsers {
		resp := e2e.Do(b, "POST", apiA+"/api/v1/users", r.admin, fmt.Sprintf(`{"username":"gb%03d","email":"gb%d@example.com"}`, i, i))
		var u struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(resp.Body, &u); err != nil || u.ID == 0 {
			b.Fatalf("create user: %d %s", resp.Status, resp.Body)
		}
		r.users = append(r.users, u.ID)
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(sockBase, "http")+"/ws?token="+e2e.Token(b, u.ID, ""), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		go r.read(conn)
	}
	return r
}

func (r *grantRig) read(conn *websocket.Conn) {
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
		if json.Unmarshal(msg, &f) != nil {
			continue
		}
		r.mu.Lock()
		if t0, ok := r.sent[[2]int64{f.UserID, f.BadgeID}]; ok {
			r.latency = append(r.latency, now.Sub(t0))
			delete(r.sent, [2]int64{f.UserID, f.BadgeID})
			r.got <- struct{}{}
		}
		r.mu.Unlock()
	}
}

// run sends b.N grants paced at rate per second (0: as fast as 8 clients
// go) and waits for every frame; it reports p50/p99 grant→socket latency
// and notifications delivered per second.
func (r *grantRig) run(b *testing.B, rate int) {
	if b.N > len(r.users)*len(r.badges) {
		b.Fatalf("b.N %d exceeds the %d distinct grants; use -benchtime %dx or less", b.N, len(r.users)*len(r.badges), len(r.users)*len(r.badges))
	}
	client := &http.Client{}
	grantOne := func(i int) {
		u, bg := r.users[i%len(r.users)], r.badges[i/len(r.users)]
		req, _ := http.NewRequest("POST", r.grantBase+"/api/v1/users/"+strconv.FormatInt(u, 10)+"/badges",
			strings.NewReader(`{"badgeId":`+strconv.FormatInt(bg, 10)+`}`))
		req.Header.Set("Authorization", "Bearer "+r.admin)
		r.mu.Lock()
		r.sent[[2]int64{u, bg}] = time.Now()
		r.mu.Unlock()
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Errorf("grant: %v %v", err, resp)
			return
		}
		resp.Body.Close()
	}
	b.ResetTimer()
	start := time.Now()
	if rate > 0 {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var wg sync.WaitGroup
		for i := range b.N {
			<-tick.C
			wg.Go(func() { grantOne(i) })
		}
		tick.Stop()
		wg.Wait()
	} else {
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range next {
					grantOne(i)
				}
			})
		}
		for i := range b.N {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	deadline := time.After(60 * time.Second)
	for range b.N {
		select {
		case <-r.got:
		case <-deadline:
			b.Fatalf("frames missing after 60s")
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	r.mu.Lock()
	lat := append([]time.Duration(nil), r.latency...)
	r.latency = r.latency[:0]
	r.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
}

// BenchmarkGrantToSocket: POST a badge grant → the NEW_BADGE frame on the
// user's socket, in the embedded profile (one process) and across
// processes (API A holds the sockets, API B takes the grants, a worker
// runs the jobs; Redis and PostgreSQL — or one SQLite file on the same
// host — in between). Run with
// -benchtime 1000x (at most 2,000 grants per run).
func BenchmarkGrantToSocket(b *testing.B) {
	for _, rate := range []int{500, 0} {
		name := "rate=" + strconv.Itoa(rate)
		if rate == 0 {
			name = "rate=max"
		}
		b.Run("embedded/"+name, func(b *testing.B) {
			dir := b.TempDir()
			api := e2e.StartAPI(b, []string{"TIPBOX_LOG_LEVEL=error", "TIPBOX_HTTP_RATE_LIMIT_RPS=0", "TIPBOX_DATABASE_DSN=file:" + dir + "/g.db"})
			db, err := sql.Open("sqlite", "file:"+dir+"/g.db?_pragma=busy_timeout(5000)")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			r := newGrantRig(b, api.BaseURL, api.BaseURL, api.BaseURL, badgeAdder(b, db, "?"))
			r.run(b, rate)
		})
		for _, dbKind := range []string{"postgres", "sqlite"} {
			b.Run("crossprocess-"+dbKind+"/"+name, func(b *testing.B) {
				rs := testenv.StartRedis(b)
				env := []string{"REDIS_URL=redis://" + rs.Addr() + "/0", "TIPBOX_LOG_LEVEL=error", "TIPBOX_HTTP_RATE_LIMIT_RPS=0"}
				var db *sql.DB
				var err error
				placeholder := "$1"
				if dbKind == "postgres" {
					dsn := testenv.PostgresDSN(b)
					env = append(env, "DATABASE_URL="+dsn)
					db, err = sql.Open("pgx", dsn)
				} else {
					// One SQLite file shared by the processes of one host (WAL).
					file := b.TempDir() + "/shared.db"
					env = append(env, "TIPBOX_DATABASE_DSN=file:"+file)
					db, err = sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)")
					placeholder = "?"
				}
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				profile := []string{"--config", "configs/redis.yaml"}
				a := e2e.StartAPI(b, env, profile...)
				bb := e2e.StartAPI(b, env, profile...)
				e2e.Start(b, b.TempDir(), e2e.Binary(b, "worker"), append(env,
					fmt.Sprintf("TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:%d", testenv.FreePort(b))), profile...)
				r := newGrantRig(b, a.BaseURL, a.BaseURL, bb.BaseURL, badgeAdder(b, db, placeholder))
				r.run(b, rate)
			})
		}
	}
}

func badgeAdder(b *testing.B, db *sql.DB, placeholder string) func(string) int64 {
	return func(name string) int64 {
		var id int64
		if err := db.QueryRow(`INSERT INTO badges (name, icon) VALUES (`+placeholder+`, '⭐') RETURNING id`, name).Scan(&id); err != nil {
			b.Fatal(err)
		}
		return id
	}
}
