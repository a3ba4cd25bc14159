// Command e2ebench measures Tipbox end to end, the way a user runs it: it
// builds cmd/api and cmd/worker, starts them as processes on a profile and
// drives them over loopback with HTTP and websocket clients.
//
// Profiles: embedded (the API alone: SQLite, in-process cache and queue),
// redis (configs/redis.yaml with cache.driver redis: one API and one
// worker, Redis Streams, PostgreSQL) and tiered (the same with
// cache.driver tiered). On the Redis profiles every Redis key lives under
// a prefix of the run, deleted at the end, and PostgreSQL gets a database
// of its own, created and dropped by the tool.
//
// Figures, per profile:
//
//	reads      cached profile GET req/s against bare /healthz req/s
//	analytics  N events POSTed as fast as the API answers 202 → time until
//	           the admin daily counts hold all N; handled/s as a share of
//	           the enqueue rate
//	push       badge grants paced at 100/s and 500/s to users with an open
//	           /ws socket (one per user) → grant→frame p50/p99
//	rate       grants stepped up by rate; the highest rate whose every
//	           frame arrives with p99 ≤ 50 ms
//
// It prints a markdown table with the goals of the end-to-end run beside
// the figures (docs/benchmarks.md, "End to end"). Goals are reported,
// never asserted: the exit code says only whether the run worked. Needs
// Redis and PostgreSQL for the Redis profiles (REDIS_URL,
// TIPBOX_TEST_POSTGRES_DSN or the flags).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options is one run's plan.
type options struct {
	Profiles     []string
	Only         map[string]bool
	Users        int
	ReadSeconds  float64
	ReadRounds   int
	ReadConns    int
	Events       int
	EventConns   int
	PushSeconds  float64
	PushRates    []int
	WarmGrants   int
	StepRates    []int
	StepSeconds  float64
	StepLadders  int
	StepP99      time.Duration
	RedisURL     string
	PostgresDSN  string
	LogLevel     string
	ProfileDir   string
	SeriesDir    string // per-grant latencies of the paced push runs
	LogDir       string // each program's output, one file per profile and program
	EventProfile int    // seconds of the analytics phase profiled
	Extra        []string
	BinDir       string // prebuilt binaries; empty: build them
	SettleBudget time.Duration
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("e2ebench", flag.ContinueOnError)
	var o options
	profiles := fs.String("profiles", "embedded,redis,tiered", "profiles to run: embedded, redis, tiered")
	only := fs.String("only", "reads,analytics,push,rate", "figures to measure (tiered measures reads only)")
	fs.IntVar(&o.Users, "users", 200, "users, each with one open /ws socket")
	fs.Float64Var(&o.ReadSeconds, "read-seconds", 1, "seconds per read round")
	fs.IntVar(&o.ReadRounds, "read-rounds", 8, "alternating /healthz and profile rounds (short and many, so that a slow moment of the machine falls on both kinds alike)")
	fs.IntVar(&o.ReadConns, "read-conns", 16, "connections of the read load")
	fs.IntVar(&o.Events, "events", 10000, "analytics events")
	fs.IntVar(&o.EventConns, "event-conns", 32, "concurrent analytics clients")
	fs.Float64Var(&o.PushSeconds, "push-seconds", 5, "seconds per paced push rate")
	pushRates := fs.String("push-rates", "100,500", "paced grant rates (grants/s)")
	fs.IntVar(&o.WarmGrants, "warm-grants", 200, "grants at 100/s before the measured ones, unmeasured (the programs open their pools)")
	stepRates := fs.String("step-rates", "500,1000,1500,2000,2500,3000,4000", "rates tried, in order, for the highest sustained")
	fs.Float64Var(&o.StepSeconds, "step-seconds", 3, "seconds per step")
	fs.IntVar(&o.StepLadders, "step-ladders", 3, "times the steps are climbed; the highest sustained rate reported is the median of the climbs")
	fs.DurationVar(&o.StepP99, "step-p99", 50*time.Millisecond, "p99 a step must stay within")
	fs.StringVar(&o.RedisURL, "redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (keys under a prefix of the run)")
	fs.StringVar(&o.PostgresDSN, "postgres", envOr("TIPBOX_TEST_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
		"PostgreSQL admin DSN (a database of the run is created there)")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "log level of the programs")
	fs.StringVar(&o.ProfileDir, "pprof", "", "directory for CPU profiles of the programs during the first read round (the API, /healthz and the profile read apart), the analytics run and the paced push runs (with execution traces; analytics also saves the Redis commands sent)")
	fs.StringVar(&o.SeriesDir, "series", "", "directory for one file per paced push run: each grant's send time, grant → frame and POST latency (ms)")
	fs.StringVar(&o.LogDir, "logs", "", "directory for each program's output (stdout and stderr; e.g. with -log-level info or -env GODEBUG=gctrace=1), one file per profile and program")
	fs.IntVar(&o.EventProfile, "events-pprof-seconds", 3, "with -pprof: seconds profiled from the first analytics POST")
	extra := fs.String("env", "", "more TIPBOX_ variables for the programs, comma-separated K=V")
	fs.StringVar(&o.BinDir, "bin", "", "directory with prebuilt api and worker (default: build them)")
	fs.DurationVar(&o.SettleBudget, "settle", 60*time.Second, "how long to wait between phases for the notifications and analytics queues to empty (the channel queues drain at their own rate limits)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Profiles = strings.Split(*profiles, ",")
	o.Only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		o.Only[strings.TrimSpace(s)] = true
	}
	var err error
	if o.PushRates, err = ints(*pushRates); err != nil {
		return o, err
	}
	if o.StepRates, err = ints(*stepRates); err != nil {
		return o, err
	}
	if o.StepLadders < 1 {
		return o, fmt.Errorf("-step-ladders: %d is under 1", o.StepLadders)
	}
	if *extra != "" {
		o.Extra = strings.Split(*extra, ",")
	}
	return o, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad rate %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// profileResult is what one profile measured.
type profileResult struct {
	Profile   string
	Reads     *readResult
	Analytics *analyticsResult
	Push      []pushResult
	Ladders   []ladder
}

// ladder is one climb of the step rates: the steps tried, up to and with
// the first one not sustained.
type ladder struct {
	Steps     []pushResult
	Sustained *pushResult // the last step sustained; nil: none
}

func run(ctx context.Context, o options, w io.Writer) error {
	bin := o.BinDir
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "tipbox-e2ebench-bin-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := binaries(root, dir); err != nil {
			return err
		}
		bin = dir
	}
	for _, dir := range []string{o.ProfileDir, o.LogDir} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
	}
	var results []profileResult
	for _, p := range o.Profiles {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res, err := runProfile(ctx, strings.TrimSpace(p), bin, o)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		results = append(results, res)
	}
	report(w, o, results)
	return nil
}

func runProfile(ctx context.Context, profile, bin string, o options) (profileResult, error) {
	res := profileResult{Profile: profile}
	progress := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "e2ebench: %s: "+format+"\n", append([]any{profile}, a...)...)
	}
	only := o.Only
	if profile == "tiered" {
		only = map[string]bool{"reads": o.Only["reads"]}
	}
	grants := 0
	if only["push"] || only["rate"] {
		grants += o.WarmGrants
	}
	if only["push"] {
		for _, r := range o.PushRates {
			grants += int(float64(r) * o.PushSeconds)
		}
	}
	if only["rate"] {
		for _, r := range o.StepRates {
			grants += o.StepLadders * int(float64(r)*o.StepSeconds)
		}
	}
	d, err := deploy(ctx, profile, bin, deployOptions{RedisURL: o.RedisURL, PostgresDSN: o.PostgresDSN, LogLevel: o.LogLevel, Extra: o.Extra, LogDir: o.LogDir})
	if err != nil {
		return res, err
	}
	defer d.close()
	progress("started; creating %d users and their sockets", o.Users)
	r, err := newRig(d, o.Users, grants, only["push"] || only["rate"])
	if err != nil {
		return res, err
	}
	defer r.close()
	if only["reads"] {
		rr, err := r.reads(o.ReadSeconds, o.ReadRounds, o.ReadConns, o.ProfileDir)
		if err != nil {
			return res, err
		}
		res.Reads = &rr
		progress("reads: healthz %.0f/s, profile %.0f/s (%.0f %%); CPU a request: healthz %s; profile %s", rr.HealthRPS, rr.ProfileRPS, 100*rr.Ratio,
			formatCPUIn(rr.HealthCPU, time.Microsecond, "µs"), formatCPUIn(rr.ProfileCPU, time.Microsecond, "µs"))
	}
	if only["analytics"] && ctx.Err() == nil {
		ar, err := r.analytics(o.Events, o.EventConns, o.ProfileDir, o.EventProfile)
		if err != nil {
			return res, err
		}
		res.Analytics = &ar
		progress("analytics: enqueue %.0f/s, handled %.0f/s (%.0f %%), drain %s", ar.EnqueueRPS, ar.HandledRPS, 100*ar.Ratio, ar.Drain.Round(time.Millisecond))
		r.settle(ctx, o.SettleBudget)
	}
	if (only["push"] || only["rate"]) && o.WarmGrants > 0 {
		if _, err := r.push(100, o.WarmGrants, "", ""); err != nil {
			return res, err
		}
		r.settle(ctx, o.SettleBudget)
	}
	if only["push"] {
		for _, rate := range o.PushRates {
			if ctx.Err() != nil {
				break
			}
			pr, err := r.push(rate, int(float64(rate)*o.PushSeconds), o.ProfileDir, o.SeriesDir)
			if err != nil {
				return res, err
			}
			res.Push = append(res.Push, pr)
			progress("push %d/s: p50 %s p99 %s (POST p99 %s; after the first second p99 %s), %d/%d delivered; CPU a grant: %s", rate, ms(pr.P50), ms(pr.P99), ms(pr.PostP99), ms(pr.SteadyP99), pr.Delivered, pr.Sent, formatCPU(pr.CPU))
			r.settle(ctx, o.SettleBudget)
		}
	}
	if only["rate"] {
		// One climb is a few seconds per rate on a machine shared with
		// everything it measures; a burst in one step ends the climb.
		// Several climbs, and their median, tell the rate from the burst.
		for l := 0; l < o.StepLadders && ctx.Err() == nil; l++ {
			var ld ladder
			for _, rate := range o.StepRates {
				if ctx.Err() != nil {
					break
				}
				pr, err := r.push(rate, int(float64(rate)*o.StepSeconds), "", "")
				if err != nil {
					return res, err
				}
				ld.Steps = append(ld.Steps, pr)
				ok := sustained(pr, o.StepP99)
				progress("climb %d, step %d/s: delivered %.0f/s, p99 %s, %d/%d, sustained %v", l+1, rate, pr.DeliveredPerSec, ms(pr.P99), pr.Delivered, pr.Sent, ok)
				r.settle(ctx, o.SettleBudget)
				if !ok {
					break
				}
				ld.Sustained = &ld.Steps[len(ld.Steps)-1]
			}
			res.Ladders = append(res.Ladders, ld)
		}
	}
	return res, nil
}

// sustained: every frame came, no grant failed, p99 within the bound and
// the frames kept up with the asked rate (≥ 95 %).
func sustained(p pushResult, p99 time.Duration) bool {
	return p.Errors == 0 && p.Delivered == p.Sent && p.P99 <= p99 && p.DeliveredPerSec >= 0.95*float64(p.Rate)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
