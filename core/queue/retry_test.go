package queue

import (
	"errors"
	"testing"
	"time"
)

// TestRetryPolicyWait: the wait before the next attempt by backoff kind,
// capped by Max (a function's result too), with jitter taking at most its
// share off, never adding.
func TestRetryPolicyWait(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		p       RetryPolicy
		attempt int
		want    time.Duration
	}{
		{"fixed", RetryPolicy{Backoff: BackoffFixed, Delay: 3 * time.Second}, 4, 3 * time.Second},
		{"exponential", RetryPolicy{Backoff: BackoffExponential, Delay: time.Second, Multiplier: 3}, 3, 9 * time.Second},
		{"exponential capped", RetryPolicy{Delay: time.Second, Multiplier: 2, Max: 5 * time.Second}, 10, 5 * time.Second},
		{"function", RetryPolicy{Func: func(a int, err error) time.Duration {
			if !errors.Is(err, boom) {
				return 0
			}
			return time.Duration(a) * time.Minute
		}}, 2, 2 * time.Minute},
		{"function capped", RetryPolicy{Max: time.Minute, Func: func(int, error) time.Duration { return time.Hour }}, 1, time.Minute},
		{"function negative", RetryPolicy{Func: func(int, error) time.Duration { return -time.Second }}, 1, 0},
	} {
		if got := tc.p.wait(tc.attempt, boom); got != tc.want {
			t.Errorf("%s: wait after attempt %d = %s, want %s", tc.name, tc.attempt, got, tc.want)
		}
	}
	p := RetryPolicy{Backoff: BackoffFixed, Delay: 10 * time.Second, Jitter: 0.3}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := p.wait(1, boom)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 7*time.Second || hi > 10*time.Second || hi-lo < 2*time.Second {
		t.Fatalf("jitter 0.3 on 10s: waits from %s to %s, want spread over 7s–10s", lo, hi)
	}
}
