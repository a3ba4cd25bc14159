package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// BackoffKind is how the wait before a retry grows.
type BackoffKind string

// The backoff kinds.
const (
	// BackoffExponential waits Delay × Multiplier^(attempt-1).
	BackoffExponential BackoffKind = "exponential"
	// BackoffFixed waits Delay before every retry.
	BackoffFixed BackoffKind = "fixed"
)

// RetryPolicy decides how many attempts a job gets and how long it waits
// between them. A job's policy (WithRetry) comes first, then its handler's
// (Handler.Retry), then the queue's (queue.retry); a zero field falls
// through to the next. Permanent errors are never retried.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included.
	MaxAttempts int         `json:"maxAttempts,omitempty"`
	Backoff     BackoffKind `json:"backoff,omitempty"`
	// Delay is the first (exponential) or every (fixed) wait.
	Delay      time.Duration `json:"delay,omitempty"`
	Multiplier float64       `json:"multiplier,omitempty"`
	// Max caps a wait.
	Max time.Duration `json:"max,omitempty"`
	// Jitter, from 0 to 1, takes a random share up to Jitter off each wait,
	// so that jobs failing together do not retry together.
	Jitter float64 `json:"jitter,omitempty"`
	// Func, when set, computes the wait before the attempt after `attempt`
	// itself. Handler policies only: a function cannot be stored with a job.
	Func func(attempt int, err error) time.Duration `json:"-"`
}

// Validate checks the policy; errors name the field.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 0:
		return fmt.Errorf("maxAttempts: %d is negative", p.MaxAttempts)
	case p.Backoff != "" && p.Backoff != BackoffExponential && p.Backoff != BackoffFixed:
		return fmt.Errorf("backoff: %q is not exponential or fixed", p.Backoff)
	case p.Delay < 0:
		return fmt.Errorf("delay: %s is negative", p.Delay)
	case p.Multiplier != 0 && p.Multiplier < 1:
		return fmt.Errorf("multiplier: %g is less than 1", p.Multiplier)
	case p.Max < 0:
		return fmt.Errorf("max: %s is negative", p.Max)
	case p.Jitter < 0 || p.Jitter > 1:
		return fmt.Errorf("jitter: %g is not between 0 and 1", p.Jitter)
	}
	return nil
}

// over returns p with its zero fields taken from base.
func (p RetryPolicy) over(base RetryPolicy) RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = base.MaxAttempts
	}
	if p.Backoff == "" {
		p.Backoff = base.Backoff
	}
	if p.Delay == 0 {
		p.Delay = base.Delay
	}
	if p.Multiplier == 0 {
		p.Multiplier = base.Multiplier
	}
	if p.Max == 0 {
		p.Max = base.Max
	}
	if p.Jitter == 0 {
		p.Jitter = base.Jitter
	}
	if p.Func == nil {
		p.Func = base.Func
	}
	return p
}

// wait is the wait before the attempt after `attempt` (1-based), capped
// by Max, less the jitter.
func (p RetryPolicy) wait(attempt int, err error) time.Duration {
	var d time.Duration
	switch {
	case p.Func != nil:
		d = p.Func(attempt, err)
	case p.Backoff == BackoffFixed:
		d = p.Delay
	default:
		d = BackoffConfig{Initial: p.Delay, Multiplier: max(p.Multiplier, 1), Max: p.Max}.Backoff(attempt)
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if d < 0 {
		d = 0
	}
	if p.Jitter > 0 && d > 0 {
		d -= time.Duration(rand.Float64() * p.Jitter * float64(d))
	}
	return d
}

// policy is the queue config's retry policy.
func (c Config) policy() RetryPolicy {
	return RetryPolicy{MaxAttempts: c.Retry.MaxAttempts, Backoff: BackoffExponential, Delay: c.Retry.Backoff.Initial,
		Multiplier: c.Retry.Backoff.Multiplier, Max: c.Retry.Backoff.Max}
}

// rateLimited asks for the job to be put back, unspent, after a wait.
type rateLimited struct{ after time.Duration }

func (r rateLimited) Error() string { return fmt.Sprintf("rate limited: retry after %s", r.after) }

// RateLimited is what a handler returns when a downstream (an email
// provider's 429, say) asks it to slow down: the job goes back, its attempt
// not spent, and its group (or its queue, for a job without a group) takes
// no job for `after`.
func RateLimited(after time.Duration) error { return rateLimited{after: max(after, 0)} }

// IsRateLimited reports whether err came from RateLimited, and the wait.
func IsRateLimited(err error) (time.Duration, bool) {
	var r rateLimited
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// ErrTimeout is the error of an attempt whose handler ran past its
// timeout (its context was cancelled).
var ErrTimeout = errors.New("timeout")

// retryJSON is RetryPolicy as stored with a job: durations as text.
type retryJSON struct {
	MaxAttempts int         `json:"maxAttempts,omitempty"`
	Backoff     BackoffKind `json:"backoff,omitempty"`
	Delay       string      `json:"delay,omitempty"`
	Multiplier  float64     `json:"multiplier,omitempty"`
	Max         string      `json:"max,omitempty"`
	Jitter      float64     `json:"jitter,omitempty"`
}

func durText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes durations as text ("2s").
func (p RetryPolicy) MarshalJSON() ([]byte, error) {
	return json.Marshal(retryJSON{MaxAttempts: p.MaxAttempts, Backoff: p.Backoff, Delay: durText(p.Delay),
		Multiplier: p.Multiplier, Max: durText(p.Max), Jitter: p.Jitter})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *RetryPolicy) UnmarshalJSON(b []byte) error {
	var r retryJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	*p = RetryPolicy{MaxAttempts: r.MaxAttempts, Backoff: r.Backoff, Multiplier: r.Multiplier, Jitter: r.Jitter}
	var err error
	if r.Delay != "" {
		if p.Delay, err = time.ParseDuration(r.Delay); err != nil {
			return fmt.Errorf("retry.delay: %w", err)
		}
	}
	if r.Max != "" {
		if p.Max, err = time.ParseDuration(r.Max); err != nil {
			return fmt.Errorf("retry.max: %w", err)
		}
	}
	return nil
}
