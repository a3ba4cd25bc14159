package memory_test

import (
	"testing"

	"github.com/tipbox/tipbox/adapters/realtime/memory"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/core/realtime/realtimetest"
)

func TestBusSuite(t *testing.T) {
	t.Parallel()
	realtimetest.BusSuite(t, func(t testing.TB) func() realtime.Bus {
		b := memory.New() // one process: every "instance" shares the bus
		t.Cleanup(func() { _ = b.Close() })
		return func() realtime.Bus { return b }
	})
}
