package memory_test

import (
	"testing"

	"github.com/tipbox/tipbox/adapters/realtime/memory"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/core/realtime/realtimetest"
)

// BenchmarkPublishToFrame: Publisher → memory bus → hub → socket → client,
// the embedded profile's push path.
func BenchmarkPublishToFrame(b *testing.B) {
	bus := memory.New()
	b.Cleanup(func() { _ = bus.Close() })
	s := realtimetest.StartServer(b, realtime.Config{}, bus, realtimetest.Options{})
	realtimetest.BenchPublishToFrame(b, s, realtime.NewPublisher(bus))
}
