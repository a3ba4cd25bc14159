package memory

import (
	"testing"

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
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
