package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuUse is the CPU time each part of a deployment has used so far: the
// programs and this client by name, Redis (INFO cpu, which counts every
// client of that Redis), and each PostgreSQL backend of the run's database
// by pid. Linux only (/proc); a part it cannot read is left out.
type cpuUse struct {
	named    map[string]time.Duration
	backends map[int]time.Duration
}

// cpu reads the deployment's CPU use now.
func (d *deployment) cpu() cpuUse {
	u := cpuUse{named: map[string]time.Duration{}, backends: map[int]time.Duration{}}
	for _, p := range []*proc{d.api, d.worker} {
		if p == nil || p.cmd.Process == nil {
			continue
		}
		if t, ok := procCPU(p.cmd.Process.Pid); ok {
			u.named[p.name] = t
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.named["client"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if t, ok := d.redisCPU(); ok {
		u.named["redis"] = t
	}
	if d.ph == "$1" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rows, err := d.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		if err == nil {
			for rows.Next() {
				var pid int
				if rows.Scan(&pid) == nil {
					if t, ok := procCPU(pid); ok {
						u.backends[pid] = t
					}
				}
			}
			rows.Close()
		}
	}
	return u
}

// cpuParts is the order parts are reported in.
var cpuParts = []string{"api", "worker", "postgres", "redis", "client"}

// since returns the CPU each part used between start and u, per unit of
// work (n units). PostgreSQL is the sum over the backends alive at u (a
// backend that ended in between is missed; one that started counts from
// zero).
func (u cpuUse) since(start cpuUse, n int) map[string]time.Duration {
	out := map[string]time.Duration{}
	if n <= 0 {
		return out
	}
	for name, t := range u.named {
		if s, ok := start.named[name]; ok {
			out[name] = (t - s) / time.Duration(n)
		}
	}
	if len(u.backends) > 0 {
		var pg time.Duration
		for pid, t := range u.backends {
			pg += t - start.backends[pid]
		}
		out["postgres"] = pg / time.Duration(n)
	}
	return out
}

// formatCPU writes per-part CPU as "api 0.61, worker 0.84, … ms (total
// 2.90 ms)".
func formatCPU(per map[string]time.Duration) string {
	return formatCPUIn(per, time.Millisecond, "ms")
}

// formatCPUIn is formatCPU in another unit ("api 21.3, client 18.0 µs").
func formatCPUIn(per map[string]time.Duration, unit time.Duration, name string) string {
	if len(per) == 0 {
		return "not measured"
	}
	var parts []string
	var total time.Duration
	for _, part := range cpuParts {
		if t, ok := per[part]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", part, float64(t)/float64(unit)))
			total += t
		}
	}
	return fmt.Sprintf("%s %s (total %.2f %s)", strings.Join(parts, ", "), name, float64(total)/float64(unit), name)
}

// procCPU is the user + system CPU time of pid so far (/proc/pid/stat,
// in clock ticks of 1/100 s, Linux's USER_HZ).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces: the fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// redisCPU is the Redis server's used_cpu_sys + used_cpu_user.
func (d *deployment) redisCPU() (time.Duration, bool) {
	info, ok := d.redisInfo("cpu")
	if !ok {
		return 0, false
	}
	var total float64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				total += x
				found++
			}
		}
	}
	return time.Duration(total * float64(time.Second)), found == 2
}
