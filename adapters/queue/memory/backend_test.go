package memory

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

func TestSemantics(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t *testing.T, cfg queue.Config) queue.Backend {
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
		InjectUndecodable: func(t *testing.T, b queue.Backend, q string) {
			mb := b.(*Backend)
			if err := mb.pub.Publish(mb.Topic(q, queue.PriorityNormal), message.NewMessage("raw-1", []byte("not a job"))); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestDriver(t *testing.T) {
	t.Parallel()
	d := NewDriver()
	if d.Name != "memory" || d.Shared {
		t.Fatalf("driver %+v", d)
	}
	cfg := queuetest.Config()
	b, err := d.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
