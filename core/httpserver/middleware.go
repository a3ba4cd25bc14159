package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	requestIDHeader = "X-Request-ID"
	requestIDLocal  = "tipbox.request_id"
)

// RequestID returns the request's id (taken from a well-formed incoming
// X-Request-ID, else generated).
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDLocal).(string)
	return id
}

func requestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := c.Get(requestIDHeader)
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		} else {
			id = string([]byte(id)) // fasthttp reuses the header buffer
		}
		c.Locals(requestIDLocal, id)
		c.Set(requestIDHeader, id)
		return c.Next()
	}
}

// validRequestID accepts 1–64 characters of [A-Za-z0-9._-], so a client
// cannot inject anything into logs through the header.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

// recoverer turns a handler panic into a 500 in the common format; the
// panic value and stack go to the log, never to the client.
func recoverer(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(c.UserContext(), "panic in handler",
					"method", c.Method(), "path", c.Path(), "request_id", RequestID(c),
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return c.Next()
	}
}

// httpMetrics counts requests and observes latency by route pattern (never
// the raw path: ids in paths would explode the label set) and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer, server string) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_http_requests_total", Help: "HTTP requests by route, method and status.",
			ConstLabels: prometheus.Labels{"server": server},
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tipbox_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			ConstLabels: prometheus.Labels{"server": server},
			Buckets:     []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpserver: register metrics: %w", err)
		}
	}
	return m, nil
}

const (
	unmatched    = "unmatched"
	metricsLocal = "tipbox.metrics.counted"
)

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	st := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, st).Inc()
	m.latency.WithLabelValues(route, method, st).Observe(d.Seconds())
}

// handler counts every request that reaches the middleware chain. Errors
// are rendered here, so the status recorded is the one sent.
func (m *httpMetrics) handler(onError fiber.ErrorHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		c.Locals(metricsLocal, true)
		err := c.Next()
		if err != nil {
			if herr := onError(c, err); herr != nil {
				return herr
			}
		}
		// After Next, Route is the last route that ran: the catch-all 404
		// handler's "/" when nothing matched.
		route := c.Route().Path
		if route == "/" && c.Path() != "/" {
			route = unmatched
		}
		m.observe(route, methodLabel(c.Method()), c.Response().StatusCode(), time.Since(start))
		return nil
	}
}

// errorHandler is Fiber's app-level error handler: it renders, and counts
// the errors that never reached the chain (413 and 431 from the request
// parser, read timeouts).
func (m *httpMetrics) errorHandler(onError fiber.ErrorHandler) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		rerr := onError(c, err)
		if counted, _ := c.Locals(metricsLocal).(bool); !counted {
			m.observe(unmatched, methodLabel(c.Method()), c.Response().StatusCode(), 0)
		}
		return rerr
	}
}
