package e2e_test

import (
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/e2e"
	"github.com/tipbox/tipbox/internal/testenv"
)

// Redis dies under a read load: every profile request still answers 200
// (X-Cache: BYPASS), and caching resumes by itself when Redis is back.
func TestCacheRedisDiesDuringReadLoad(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRedis(t)
	api := e2e.StartAPI(t, []string{
		"TIPBOX_CACHE_DRIVER=redis", "REDIS_URL=redis://" + rs.Addr() + "/0",
		"TIPBOX_CACHE_BREAKER_OPEN_FOR=300ms",
		// Rate limits off: the readers send hundreds of requests a second,
		// and a 429 is not what this test is about.
		"TIPBOX_HTTP_RATE_LIMIT_RPS=0",
	})
	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, api.BaseURL, admin, "readload")
	tok := e2e.Token(t, id, "")
	if r := e2e.Do(t, "GET", profileURL(api.BaseURL, id), tok, ""); r.Status != 200 || r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("warm-up read: %d %s", r.Status, r.Header.Get("X-Cache"))
	}

	// Readers hammer the profile while Redis is killed under them.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	failures := 0
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := e2e.Do(t, "GET", profileURL(api.BaseURL, id), tok, "")
				mu.Lock()
				if r.Status != 200 || field(t, r.Body, "username") != "readload" {
					failures++
				}
				statuses[r.Header.Get("X-Cache")]++
				mu.Unlock()
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return statuses["HIT"] > 20 }, "no cache hits before the kill")
	rs.Kill()
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return statuses["BYPASS"] > 200 }, "no BYPASS answers after the kill")
	close(stop)
	wg.Wait()
	if failures > 0 {
		t.Fatalf("%d profile requests failed while Redis was down (X-Cache counts %v)", failures, statuses)
	}
	if r := e2e.Do(t, "GET", api.BaseURL+"/readyz", "", ""); r.Status != 200 || field(t, r.Body, "cache") != "down" {
		t.Fatalf("readyz with the cache down: %d %s", r.Status, r.Body)
	}

	// Redis returns, empty: the breaker half-opens and caching resumes.
	rs.Start()
	testenv.Eventually(t, 10*time.Second, func() bool {
		return e2e.Do(t, "GET", profileURL(api.BaseURL, id), tok, "").Header.Get("X-Cache") == "HIT"
	}, "caching did not resume after Redis came back")
	t.Logf("X-Cache counts during the run: %v", statuses)
}

// Two API instances with the tiered cache on one Redis: an update through
// one is seen through the other on its next read.
func TestTieredCacheAcrossInstances(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRedis(t)
	db := "file:" + filepath.Join(t.TempDir(), "shared.db")
	env := []string{"TIPBOX_CACHE_DRIVER=tiered", "REDIS_URL=redis://" + rs.Addr() + "/0", "TIPBOX_DATABASE_DSN=" + db}
	a := e2e.StartAPI(t, env)
	b := e2e.StartAPI(t, env)
	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, a.BaseURL, admin, "twoinst")
	tok := e2e.Token(t, id, "")
	for range 2 { // fill both instances' L1
		e2e.Do(t, "GET", profileURL(a.BaseURL, id), tok, "")
		e2e.Do(t, "GET", profileURL(b.BaseURL, id), tok, "")
	}
	if r := e2e.Do(t, "GET", profileURL(b.BaseURL, id), tok, ""); r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("instance B does not serve from cache: %s", r.Header.Get("X-Cache"))
	}
	for i, bio := range []string{"first", "second", "third"} {
		if r := e2e.Do(t, "PATCH", profileURL(a.BaseURL, id), tok, `{"bio":"`+bio+`"}`); r.Status != 200 {
			t.Fatalf("patch %d: %d %s", i, r.Status, r.Body)
		}
		// The eviction is a Redis pub/sub message; it must land within 100 ms.
		deadline := time.Now().Add(100 * time.Millisecond)
		for {
			r := e2e.Do(t, "GET", profileURL(b.BaseURL, id), tok, "")
			if field(t, r.Body, "bio") == bio {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance B still serves bio %q 100ms after the update to %q", field(t, r.Body, "bio"), bio)
			}
		}
	}
}

// Warming: at start the API loads the most recently active profiles, so
// their first read is a hit.
func TestCacheWarmingAtStart(t *testing.T) {
	t.Parallel()
	db := "TIPBOX_DATABASE_DSN=file:" + filepath.Join(t.TempDir(), "warm.db")
	first := e2e.StartAPI(t, []string{db})
	admin := e2e.Token(t, 1, "admin")
	var ids []int64
	for _, n := range []string{"warm1", "warm2", "warm3", "cold4"} {
		ids = append(ids, createUser(t, first.BaseURL, admin, n))
	}
	// Touch the first three last, so they are the most recently active.
	for _, id := range ids[:3] {
		e2e.Do(t, "PATCH", profileURL(first.BaseURL, id), admin, `{"bio":"active"}`)
	}
	first.Signal(syscall.SIGTERM)
	if code := first.Wait(20 * time.Second); code != 0 {
		t.Fatalf("first instance exit %d", code)
	}
	second := e2e.StartAPI(t, []string{db, "TIPBOX_CACHE_WARM_COUNT=3"})
	for _, id := range ids[:3] {
		if r := e2e.Do(t, "GET", profileURL(second.BaseURL, id), admin, ""); r.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("warmed user %d: X-Cache %s", id, r.Header.Get("X-Cache"))
		}
	}
	if r := e2e.Do(t, "GET", profileURL(second.BaseURL, ids[3]), admin, ""); r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("unwarmed user: X-Cache %s", r.Header.Get("X-Cache"))
	}
}
