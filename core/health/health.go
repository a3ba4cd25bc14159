// Package health aggregates readiness checks contributed by other packages.
//
// /healthz answers 200 while the process lives. /readyz runs every checker
// concurrently with a short deadline and reports each as "up" or "down";
// only a critical checker that is down (the database) makes it 503, since a
// cache or queue that is down only degrades the service.
package health

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.uber.org/fx"
)

// Checker is one readiness probe. Check must be safe for concurrent use and
// honour ctx's deadline.
type Checker struct {
	Name     string
	Critical bool
	// Unlisted checkers gate readiness (when Critical) but are not shown
	// in the report, whose keys are part of the API contract (docs/api.md):
	// cache warm-up, for one.
	Unlisted bool
	Check    func(ctx context.Context) error
}

// AsChecker provides the result of a constructor returning a Checker so its result joins
// the "health.checkers" value group.
func AsChecker(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"health.checkers"`)))
}

// Registry runs the checkers.
type Registry struct {
	checkers []Checker
	timeout  time.Duration
}

// NewRegistry returns a Registry over checkers, each given timeout per run.
func NewRegistry(checkers []Checker, timeout time.Duration) *Registry {
	sorted := append([]Checker(nil), checkers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	return &Registry{checkers: sorted, timeout: timeout}
}

// Report runs every checker and returns name → "up"/"down", and whether
// every critical checker is up.
func (r *Registry) Report(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out := make(map[string]string, len(r.checkers))
	ready := true
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range r.checkers {
		wg.Go(func() {
			state := "up"
			if err := c.Check(ctx); err != nil {
				state = "down"
			}
			mu.Lock()
			defer mu.Unlock()
			if !c.Unlisted {
				out[c.Name] = state
			}
			if state == "down" && c.Critical {
				ready = false
			}
		})
	}
	wg.Wait()
	return out, ready
}

type params struct {
	fx.In
	Checkers []Checker `group:"health.checkers"`
}

// Module provides the *Registry from the "health.checkers" group.
var Module = fx.Module("health",
	fx.Provide(func(p params) *Registry { return NewRegistry(p.Checkers, 2*time.Second) }),
)
