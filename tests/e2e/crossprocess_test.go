package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// The Redis profile across processes: two API instances and two workers on
// one Redis and one PostgreSQL. 1,000 grants spread over 100 connected
// users (ten badges each), half of the sockets on each instance, grants
// sent through both; one worker is killed with SIGKILL mid-run. Every user
// receives exactly its own ten notifications (duplicates allowed, dropped
// by id), none lost, and nothing else.
func TestRedisProfileAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-process run; skipped with -short")
	}
	t.Parallel()
	rs := testenv.StartRedis(t)
	dsn := testenv.PostgresDSN(t)
	env := []string{
		"REDIS_URL=redis://" + rs.Addr() + "/0", "DATABASE_URL=" + dsn,
		"TIPBOX_QUEUE_REDIS_MIN_IDLE_TIME=2s", "TIPBOX_QUEUE_REDIS_CLAIM_INTERVAL=500ms", "TIPBOX_QUEUE_HEARTBEAT=500ms",
		"TIPBOX_LOG_LEVEL=warn",
		// One admin sends 1,000 grants as fast as it can: not a rate limit test.
		"TIPBOX_HTTP_RATE_LIMIT_RPS=0",
		// Four processes on the shared PostgreSQL (max_connections 100) beside
		// other tests: the profile's 10 warm connections each would be 40.
		"TIPBOX_DATABASE_WARM_CONNS=2",
	}
	profile := []string{"--config", "configs/redis.yaml"}
	a := e2e.StartAPI(t, env, profile...) // migrates the database first
	b := e2e.StartAPI(t, env, profile...)

	// Five more badges, so that every user can get ten.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 5 {
		if _, err := db.Exec(`INSERT INTO badges (name, icon) VALUES ($1, '⭐')`, fmt.Sprintf("Extra %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var badgeIDs []int64
	rows, err := db.Query(`SELECT id FROM badges ORDER BY id LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		badgeIDs = append(badgeIDs, id)
	}
	rows.Close()

	var workers []*e2e.Proc
	for range 2 {
		w := e2e.Start(t, t.TempDir(), e2e.Binary(t, "worker"), append(env,
			fmt.Sprintf("TIPBOX_WORKER_ADMIN_ADDR=127.0.0.1:%d", testenv.FreePort(t))), profile...)
		workers = append(workers, w)
	}

	admin := e2e.Token(t, 1, "admin")
	const users = 100
	ids := make([]int64, users)
	socks := make([]*socket, users)
	for i := range users {
		ids[i] = createUser(t, a.BaseURL, admin, fmt.Sprintf("xp%03d", i))
		base := a.BaseURL
		if i%2 == 1 {
			base = b.BaseURL
		}
		socks[i] = dial(t, base, e2e.Token(t, ids[i], ""))
	}
	waitSockets(t, a.BaseURL, users/2)
	waitSockets(t, b.BaseURL, users/2)

	// 1,000 grants from 16 clients, alternating instances; the first worker
	// is killed after 300.
	var sent atomic.Int64
	jobs := make(chan [2]int64)
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			base := a.BaseURL
			if c%2 == 1 {
				base = b.BaseURL
			}
			for j := range jobs {
				grant(t, base, admin, j[0], j[1])
				if sent.Add(1) == 300 {
					workers[0].Signal(syscall.SIGKILL)
				}
			}
		})
	}
	for _, badge := range badgeIDs {
		for _, u := range ids {
			jobs <- [2]int64{u, badge}
		}
	}
	close(jobs)
	wg.Wait()

	deadline := time.Now().Add(60 * time.Second)
	for i, s := range socks {
		for {
			got, foreign := s.badges(ids[i])
			if len(foreign) > 0 {
				t.Fatalf("user %d received another's frames: %v", ids[i], foreign)
			}
			if len(got) == len(badgeIDs) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("user %d received %d of %d badges", ids[i], len(got), len(badgeIDs))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Every inbox holds exactly ten notifications (stored once per job).
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM notifications`).Scan(&n); err != nil || n != users*len(badgeIDs) {
		t.Fatalf("notifications stored: %d (%v), want %d", n, err, users*len(badgeIDs))
	}
	// Each subsystem's Redis client reports its pool.
	metrics := string(e2e.Do(t, "GET", a.BaseURL+"/metrics", "", "").Body)
	for _, client := range []string{"cache", "queue", "realtime", "presence"} {
		if series := `tipbox_redis_pool_connections{client="` + client + `"}`; !strings.Contains(metrics, series) {
			t.Fatalf("the API's metrics lack %s", series)
		}
	}
	if !workers[0].Exited() {
		t.Fatal("the first worker was not killed")
	}
}
