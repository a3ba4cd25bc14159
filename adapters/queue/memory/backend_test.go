package memory

import (
	"io"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

func TestSemantics(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t *testing.T, cfg queue.Config) queue.Backend {
			b, err := New(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}

func TestDriver(t *testing.T) {
	t.Parallel()
	d := NewDriver(nil)
	if d.Name != "memory" || d.Shared {
		t.Fatalf("driver %+v", d)
	}
	b, err := d.Open(queuetest.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLetterRetention(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Retention.Failed = 3
	obs := &queuetest.DropCounter{}
	b, err := New(cfg, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	client, _ := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	e := &queuetest.Env{T: t, Cfg: cfg, Backend: b, Client: client, Admin: queue.NewAdmin(cfg, b)}
	queuetest.DeadLetterRetention(t, e, obs, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		later := time.Now().Add(cfg.Retention.FailedAge + time.Minute)
		for _, s := range b.queues {
			s.expire(b, later)
		}
	})
}
