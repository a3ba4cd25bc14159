package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// The driver's cost per job without the worker around it: Fetch called in
// a loop, each call settling the previous call's jobs as completed and
// claiming `batch` more (what a worker at concurrency `batch` does when its
// handlers return at once). It reports the Redis server's CPU per job
// (INFO cpu: run it on a Redis nobody else uses, TIPBOX_TEST_REDIS_ADDR)
// and this process's.
//
//	go test -run '^$' -bench 'FetchCost|EnqueueCost' -benchtime 20000x ./adapters/queue/redis/

func BenchmarkFetchCost(b *testing.B) {
	for _, batch := range []int{1, 5, 50} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			be, client := costBackend(b)
			ctx := context.Background()
			costFill(b, be, b.N)
			var settle []queue.Settlement
			r0, c0, s0 := serverCPU(b, client), processCPU(), commandStats(b, client)
			b.ResetTimer()
			for done := 0; done < b.N; {
				jobs, err := be.Fetch(ctx, queue.FetchRequest{Queue: "cost", Consumer: "c", Settle: settle, Max: batch})
				if err != nil {
					b.Fatal(err)
				}
				settle = settle[:0]
				for _, j := range jobs {
					var p map[string]any
					if err := json.Unmarshal(j.Payload, &p); err != nil {
						b.Fatal(err)
					}
					settle = append(settle, queue.Settlement{Job: j, Outcome: queue.Completed, At: time.Now()})
				}
				done += len(jobs)
				if len(jobs) == 0 {
					b.Fatalf("queue empty after %d of %d jobs", done, b.N)
				}
			}
			if _, err := be.Fetch(ctx, queue.FetchRequest{Queue: "cost", Consumer: "c", Settle: settle}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			costReport(b, client, r0, c0, s0)
		})
	}
}

func BenchmarkEnqueueCost(b *testing.B) {
	be, client := costBackend(b)
	r0, c0, s0 := serverCPU(b, client), processCPU(), commandStats(b, client)
	b.ResetTimer()
	costFill(b, be, b.N)
	b.StopTimer()
	costReport(b, client, r0, c0, s0)
}

func costBackend(b *testing.B) (*Backend, goredis.UniversalClient) {
	qcfg := queuetest.Config()
	qcfg.Queues = []string{"cost"}
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(b)})
	be, _ := openTestBackend(b, c, qcfg)
	admin := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(b)})
	b.Cleanup(func() { _ = admin.Close() })
	return be, admin
}

// costFill enqueues n jobs with the 200-byte payload of tools/queuebench,
// 100 per call.
func costFill(b *testing.B, be *Backend, n int) {
	ctx := context.Background()
	pad := strings.Repeat("x", 60)
	for done := 0; done < n; done += 100 {
		jobs := make([]queue.NewRecord, min(100, n-done))
		for i := range jobs {
			p := fmt.Sprintf(`{"userId":%d,"event":"profile_view","sentAt":%d,"data":{"source":"web","ref":"notification","session":"3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11","pad":"%s"}}`,
				10000+done+i, time.Now().UnixMicro(), pad)
			jobs[i] = queue.NewRecord{Job: &queue.Job{ID: strconv.Itoa(done+i) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
				Queue: "cost", Name: "event", Payload: json.RawMessage(p), State: queue.StateWaiting, Attempt: 1,
				MaxAttempts: 3, EnqueuedAt: time.Now(), RunAt: time.Now()}}
		}
		if err := be.Enqueue(ctx, "cost", jobs); err != nil {
			b.Fatal(err)
		}
	}
}

func costReport(b *testing.B, admin goredis.UniversalClient, r0 float64, c0 time.Duration, s0 cmdStats) {
	r1, c1, s1 := serverCPU(b, admin), processCPU(), commandStats(b, admin)
	n := float64(b.N)
	b.ReportMetric((r1-r0)*1e6/n, "redis-µs/job")
	b.ReportMetric(float64((c1-c0).Nanoseconds())/1e3/n, "go-µs/job")
	// Time inside scripts, and the commands they ran (every command but
	// the scripts themselves and INFO).
	var calls, usec float64
	for name, st := range s1 {
		if name == "evalsha" || name == "eval" || name == "info" {
			continue
		}
		calls += st[0] - s0[name][0]
		usec += st[1] - s0[name][1]
	}
	b.ReportMetric((s1["evalsha"][1]-s0["evalsha"][1])/n, "script-µs/job")
	b.ReportMetric(usec/n, "cmd-µs/job")
	b.ReportMetric(calls/n, "cmds/job")
	b.ReportMetric(n/(s1["evalsha"][0]-s0["evalsha"][0]), "jobs/call")
}

// cmdStats is INFO commandstats: command → {calls, usec}.
type cmdStats map[string][2]float64

func commandStats(b *testing.B, c goredis.UniversalClient) cmdStats {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := cmdStats{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st [2]float64
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				st[0] = f
			case "usec":
				st[1] = f
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return out
}

// serverCPU is the Redis server's used_cpu_user + used_cpu_sys in seconds.
func serverCPU(b *testing.B, c goredis.UniversalClient) float64 {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScriptSteps prices the steps of a drained job inside one
// script call, so that no round trip, client or other process weighs in:
// N waiting records (the shape of a 200-byte-payload job) are claimed 50
// per batch and then completed 50 per batch, each sub-benchmark adding
// one step to the previous one. The difference between two lines is that
// step's Redis CPU per job.
//
//	go test -run '^$' -bench ScriptSteps -benchtime 20000x ./adapters/queue/redis/
func BenchmarkScriptSteps(b *testing.B) {
	steps := []string{"pop+read", "activate", "hset", "lease", "event", "settle", "settle-event", "retain"}
	for i := range steps {
		mode := strings.Join(steps[:i+1], ",")
		b.Run(steps[i], func(b *testing.B) {
			c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(b)})
			prefix := testenv.Prefix(b)
			b.Cleanup(func() {
				deleteKeys(b, c, prefix)
				_ = c.Close()
			})
			k := newKeys(prefix, "steps")
			ctx := context.Background()
			if err := goredis.NewScript(stepSetup).Run(ctx, c, k.all, b.N).Err(); err != nil {
				b.Fatal(err)
			}
			r0 := serverCPU(b, c)
			b.ResetTimer()
			n, err := goredis.NewScript(prelude+stepWork).Run(ctx, c, k.all, k.base, b.N, mode).Int()
			b.StopTimer()
			if err != nil || n != b.N {
				b.Fatalf("claimed %d of %d: %v", n, b.N, err)
			}
			b.ReportMetric((serverCPU(b, c)-r0)*1e6/float64(b.N), "redis-µs/job")
		})
	}
}

// stepSetup writes ARGV[1] waiting jobs as enqueue does.
const stepSetup = `
local payload = '{"userId":10001,"event":"profile_view","sentAt":1796228101135123,"data":{"source":"web","ref":"notification","session":"3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11","pad":"` + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + `"}}'
for i = 1, tonumber(ARGV[1]) do
  redis.call('HSET', KEYS[1], 'id-' .. i, '{"state":"waiting","priority":"normal","attempt":1,"stalls":0,"progress":0,"runAt":1796228101135,"startedAt":0,"finishedAt":0,"token":' .. i .. ',"error":null,"name":"event","maxAttempts":3,"enqueuedAt":1796228101135,"payload":' .. payload .. '}')
  redis.call('LPUSH', KEYS[3], i .. ':id-' .. i)
end
return 1`

// stepWork claims and completes ARGV[2] jobs with the steps named in
// ARGV[3], the way the fetch script does them (same helpers, same calls).
const stepWork = `
local base, N, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local emax, now, lease = '10000', '1796228101135', '1796228111135'
local function has(m) return string.find(mode, m, 1, true) ~= nil end
local claimed = {}
while #claimed < N do
  local els = redis.call('RPOP', KEYS[3], 50)
  if not els then break end
  local ids = {}
  for k, el in ipairs(els) do ids[k] = string.match(el, '^%d+:(.*)$') end
  local rs = redis.call('HMGET', KEYS[1], unpack(ids))
  local recs, leases = {}, {}
  for k, el in ipairs(els) do
    local rec = rs[k]
    if has('activate') then
      local made, name
      rec, made, name = activate(rec, string.match(el, '^(%d+):'), now)
      if has('event') then
        redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', ids[k], 's', 'active', 'a', made, 'n', name, 't', now)
      end
    end
    if has('hset') then recs[#recs + 1] = ids[k]; recs[#recs + 1] = rec end
    if has('lease') then leases[#leases + 1] = lease; leases[#leases + 1] = el end
    claimed[#claimed + 1] = {ids[k], rec, el}
  end
  if #recs > 0 then redis.call('HSET', KEYS[1], unpack(recs)) end
  if #leases > 0 then redis.call('ZADD', KEYS[5], unpack(leases)) end
end
if has('settle') then
  for s = 1, #claimed, 50 do
    local e = math.min(s + 49, #claimed)
    local ls, recs, done = {}, {}, {}
    for k = s, e do ls[#ls + 1] = claimed[k][3] end
    redis.call('ZMSCORE', KEYS[5], unpack(ls))
    redis.call('ZREM', KEYS[5], unpack(ls))
    for k = s, e do
      local id = claimed[k][1]
      -- The record as the worker sends it: a new string of the same size.
      recs[#recs + 1] = id
      recs[#recs + 1] = string.gsub(claimed[k][2], '"active"', '"completed"', 1)
      done[#done + 1] = now .. '|' .. id
      if has('settle-event') then
        redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', 'completed', 'a', '1', 'n', 'event', 't', now)
      end
    end
    redis.call('HSET', KEYS[1], unpack(recs))
    local len = redis.call('LPUSH', KEYS[7], unpack(done))
    redis.call('HINCRBY', KEYS[11], 'completed', #done)
    if has('retain') then retain(KEYS[7], 1000, base, len) end
  end
end
return #claimed`

// BenchmarkPromoteIdle: the promote tick on a queue with no delayed job
// (what every worker process runs every promote_interval, 20 ms by
// default, for each queue, busy or idle): Redis CPU per tick.
//
//	go test -run '^$' -bench PromoteIdle -benchtime 20000x ./adapters/queue/redis/
func BenchmarkPromoteIdle(b *testing.B) {
	be, client := costBackend(b)
	ctx := context.Background()
	r0, c0 := serverCPU(b, client), processCPU()
	b.ResetTimer()
	for range b.N {
		if _, err := be.promoteDue(ctx, "cost"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((serverCPU(b, client)-r0)*1e6/float64(b.N), "redis-µs/tick")
	b.ReportMetric(float64((processCPU()-c0).Nanoseconds())/1e3/float64(b.N), "go-µs/tick")
}
