package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

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

// Two API instances on one Redis, each keeping the entries it read in
// process: with the tiered cache (its own L1, invalidated over pub/sub) and
// with the redis driver's client-side cache (the redis profile's setting,
// invalidated by Redis itself). An update through one instance is seen
// through the other within 100 ms.
func TestTieredCacheAcrossInstances(t *testing.T) {
	t.Parallel()
	testCacheAcrossInstances(t, "TIPBOX_CACHE_DRIVER=tiered")
}

func TestClientCacheAcrossInstances(t *testing.T) {
	t.Parallel()
	rs := testCacheAcrossInstances(t, "TIPBOX_CACHE_DRIVER=redis", "TIPBOX_CACHE_REDIS_CLIENT_CACHE_ENTRIES=10000")
	// A change made in Redis by another program (redis-cli, a script) is
	// seen too: Redis tells every connection that read the key.
	c := goredis.NewClient(&goredis.Options{Addr: rs.redis.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	key := fmt.Sprintf("user:%d:profile", rs.id)
	raw, err := c.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatalf("the profile's cache entry: %v", err)
	}
	edited := bytes.Replace(raw, []byte(`"bio":"third"`), []byte(`"bio":"edited in redis"`), 1)
	if bytes.Equal(edited, raw) {
		t.Fatalf("entry %s has no bio third", raw)
	}
	// A hit costs no round trip: 100 reads through each instance send
	// (almost) no GET to Redis.
	gets := func() int {
		t.Helper()
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_get:calls=")
		if !ok {
			return 0
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		return n
	}
	before := gets()
	for _, inst := range []string{rs.a, rs.b} {
		for range 100 {
			if r := e2e.Do(t, "GET", profileURL(inst, rs.id), rs.tok, ""); r.Header.Get("X-Cache") != "HIT" {
				t.Fatalf("%s: X-Cache %s before the edit", inst, r.Header.Get("X-Cache"))
			}
		}
	}
	if n := gets() - before; n > 10 {
		t.Fatalf("200 cached reads sent %d GETs to Redis", n)
	}
	if err := c.Set(ctx, key, edited, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	seenWithin(t, []string{rs.a, rs.b}, rs.id, rs.tok, "edited in redis")
	if err := c.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	// Deleted there: each instance drops its copy and reads the database
	// (the first read refills Redis, which the other may then hit).
	seenWithin(t, []string{rs.a, rs.b}, rs.id, rs.tok, "third")
}

// acrossInstances is what testCacheAcrossInstances leaves for more checks.
type acrossInstances struct {
	redis *testenv.RedisServer
	a, b  string // the instances' base URLs
	id    int64
	tok   string
}

func testCacheAcrossInstances(t *testing.T, cacheEnv ...string) acrossInstances {
	rs := testenv.StartRedis(t)
	db := "file:" + filepath.Join(t.TempDir(), "shared.db")
	env := append([]string{
		"REDIS_URL=redis://" + rs.Addr() + "/0", "TIPBOX_DATABASE_DSN=" + db,
		// The polls below send requests back to back; a 429 is not what
		// these tests are about.
		"TIPBOX_HTTP_RATE_LIMIT_RPS=0",
	}, cacheEnv...)
	a := e2e.StartAPI(t, env)
	b := e2e.StartAPI(t, env)
	admin := e2e.Token(t, 1, "admin")
	id := createUser(t, a.BaseURL, admin, "twoinst")
	tok := e2e.Token(t, id, "")
	for range 2 { // fill both instances' in-process copies
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
		seenWithin(t, []string{b.BaseURL}, id, tok, bio)
	}
	return acrossInstances{redis: rs, a: a.BaseURL, b: b.BaseURL, id: id, tok: tok}
}

// seenWithin fails unless every instance answers bio within 100 ms.
func seenWithin(t *testing.T, instances []string, id int64, tok, bio string) {
	t.Helper()
	for _, inst := range instances {
		deadline := time.Now().Add(100 * time.Millisecond)
		for {
			r := e2e.Do(t, "GET", profileURL(inst, id), tok, "")
			if field(t, r.Body, "bio") == bio {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still serves bio %q 100ms after the change to %q", inst, field(t, r.Body, "bio"), bio)
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
