package dashboard

import (
	"sort"

	"github.com/gofiber/fiber/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/tipbox/tipbox/core/httpserver"
)

// CacheView is one cache name's figures since the process started.
type CacheView struct {
	Name     string  `json:"name"`
	Hits     float64 `json:"hits"`
	Misses   float64 `json:"misses"`
	Bypasses float64 `json:"bypasses"`
	Errors   float64 `json:"errors"`
	// HitRate is hits / (hits + misses + bypasses); null before any read.
	HitRate *float64 `json:"hitRate"`
	// Breaker is closed, open or half-open.
	Breaker string `json:"breaker"`
}

// RealtimeView is the realtime hub of this process.
type RealtimeView struct {
	Connections float64 `json:"connections"`
	OnlineUsers float64 `json:"onlineUsers"`
}

// Runtime is the answer of GET …/dashboard/runtime.
type Runtime struct {
	Caches   []CacheView  `json:"caches"`
	Realtime RealtimeView `json:"realtime"`
}

// ReadRuntime gathers the cache and realtime figures from the process's
// registry: the same numbers /metrics exports.
func (d *Dashboard) ReadRuntime() (Runtime, error) {
	families, err := d.deps.Gatherer.Gather()
	if err != nil {
		return Runtime{}, err
	}
	caches := map[string]*CacheView{}
	cacheFor := func(m *dto.Metric) *CacheView {
		name := label(m, "cache")
		cv, ok := caches[name]
		if !ok {
			cv = &CacheView{Name: name, Breaker: "closed"}
			caches[name] = cv
		}
		return cv
	}
	var rt Runtime
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "tipbox_cache_hits_total":
				cacheFor(m).Hits += m.GetCounter().GetValue()
			case "tipbox_cache_misses_total":
				cacheFor(m).Misses += m.GetCounter().GetValue()
			case "tipbox_cache_bypasses_total":
				cacheFor(m).Bypasses += m.GetCounter().GetValue()
			case "tipbox_cache_errors_total":
				cacheFor(m).Errors += m.GetCounter().GetValue()
			case "tipbox_cache_breaker_state":
				cacheFor(m).Breaker = breakerState(m.GetGauge().GetValue())
			case "tipbox_realtime_connections":
				rt.Realtime.Connections += m.GetGauge().GetValue()
			case "tipbox_realtime_online_users":
				rt.Realtime.OnlineUsers += m.GetGauge().GetValue()
			}
		}
	}
	rt.Caches = make([]CacheView, 0, len(caches))
	for _, cv := range caches {
		if reads := cv.Hits + cv.Misses + cv.Bypasses; reads > 0 {
			r := cv.Hits / reads
			cv.HitRate = &r
		}
		rt.Caches = append(rt.Caches, *cv)
	}
	sort.Slice(rt.Caches, func(i, j int) bool { return rt.Caches[i].Name < rt.Caches[j].Name })
	return rt, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func breakerState(v float64) string {
	switch v {
	case 1:
		return "open"
	case 2:
		return "half-open"
	}
	return "closed"
}

func (d *Dashboard) runtime(c *fiber.Ctx) error {
	rt, err := d.ReadRuntime()
	if err != nil {
		return httpserver.Error(fiber.StatusServiceUnavailable, "metrics_unavailable", "metrics could not be gathered: "+err.Error())
	}
	return c.JSON(rt)
}
