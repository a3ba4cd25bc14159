package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report prints the run as one markdown table: figure, measured, goal, met.
func report(w io.Writer, o options, results []profileResult) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "## End to end (real binaries) — %s — %d cores, client on the same host (%s) — %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), host, runtime.Version())
	fmt.Fprintf(w, "%d users with one /ws socket each; reads %d×%gs per kind over %d connections; %d analytics events from %d clients; %d unmeasured warm-up grants, then push %gs per rate; steps %gs each, climbed %d times.\n\n",
		o.Users, o.ReadRounds, o.ReadSeconds, o.ReadConns, o.Events, o.EventConns, o.WarmGrants, o.PushSeconds, o.StepSeconds, o.StepLadders)
	fmt.Fprintln(w, "| profile | figure | measured | goal | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	row := func(p, fig, got, goal string, met *bool) {
		m := "—"
		if met != nil {
			m = map[bool]string{true: "yes", false: "**no**"}[*met]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", p, fig, got, goal, m)
	}
	b := func(v bool) *bool { return &v }
	for _, r := range results {
		p := r.Profile
		if x := r.Reads; x != nil {
			goal := map[string]float64{"embedded": 0.9, "redis": 0.6, "tiered": 0.9}[p]
			row(p, "cached profile GET vs /healthz", fmt.Sprintf("%.0f vs %.0f req/s = **%.0f %%** (p99 %s vs %s; %.0f %% X-Cache HIT); CPU a read: %s; a /healthz: %s",
				x.ProfileRPS, x.HealthRPS, 100*x.Ratio, ms(x.ProfileP99), ms(x.HealthP99), 100*x.HitShare,
				formatCPUIn(x.ProfileCPU, time.Microsecond, "µs"), formatCPUIn(x.HealthCPU, time.Microsecond, "µs")),
				fmt.Sprintf("≥ %.0f %%", 100*goal), b(x.Ratio >= goal))
		}
		if x := r.Analytics; x != nil {
			row(p, fmt.Sprintf("analytics: %d events, handled/s vs HTTP enqueue/s", x.Events),
				fmt.Sprintf("%.0f vs %.0f /s = **%.0f %%**; counts exact: %v", x.HandledRPS, x.EnqueueRPS, 100*x.Ratio, x.Exact),
				"≥ 90 %", b(x.Ratio >= 0.9 && x.Exact))
			row(p, "analytics: last 202 → all counted", ms(x.Drain), "≤ 2 s", b(x.Drain <= 2*time.Second))
		}
		for _, x := range r.Push {
			bound := 25 * time.Millisecond
			if p == "embedded" {
				bound = 10 * time.Millisecond
			}
			row(p, fmt.Sprintf("grant → frame at %d grants/s", x.Rate),
				fmt.Sprintf("p50 %s, **p99 %s**, max %s (POST p50 %s, p99 %s; p99 of the grants sent after the first second %s); %d/%d frames; CPU a grant: %s", ms(x.P50), ms(x.P99), ms(x.Max), ms(x.PostP50), ms(x.PostP99), ms(x.SteadyP99), x.Delivered, x.Sent, formatCPU(x.CPU)),
				"p99 ≤ "+ms(bound), b(x.P99 <= bound && x.Delivered == x.Sent))
		}
		if len(r.Ladders) > 0 {
			var climbs []string
			for i, ld := range r.Ladders {
				var steps []string
				for _, s := range ld.Steps {
					steps = append(steps, fmt.Sprintf("%d→%.0f/s p99 %s%s", s.Rate, s.DeliveredPerSec, ms(s.P99), map[bool]string{true: "", false: " ✗"}[sustained(s, o.StepP99)]))
				}
				climbs = append(climbs, fmt.Sprintf("climb %d: %s (%s)", i+1, sustainedRate(ld), strings.Join(steps, ", ")))
			}
			best := medianSustained(r.Ladders)
			got := "none"
			if best > 0 {
				got = fmt.Sprintf("%.0f /s", best)
			}
			row(p, "highest sustained notifications/s with p99 ≤ "+ms(o.StepP99),
				fmt.Sprintf("**%s** (median of %d climbs); %s", got, len(r.Ladders), strings.Join(climbs, "; ")), "≥ 2,000 /s", b(best >= 2000))
		}
	}
}

// sustainedRate is a climb's highest sustained rate as reported.
func sustainedRate(ld ladder) string {
	if ld.Sustained == nil {
		return "none"
	}
	return fmt.Sprintf("%.0f /s at %d/s", ld.Sustained.DeliveredPerSec, ld.Sustained.Rate)
}

// medianSustained is the median of the climbs' highest sustained rates (a
// climb with none counts 0); of an even count, the lower middle one.
func medianSustained(ls []ladder) float64 {
	rates := make([]float64, len(ls))
	for i, ld := range ls {
		if ld.Sustained != nil {
			rates[i] = ld.Sustained.DeliveredPerSec
		}
	}
	slices.Sort(rates)
	return rates[(len(rates)-1)/2]
}
