package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// BenchmarkPublishToFrame: Publisher (its own Redis client, as cmd/worker)
// → PUBLISH → the API instance's subscription → hub → socket → client.
func BenchmarkPublishToFrame(b *testing.B) {
	addr, prefix := testenv.RedisAddr(b), testenv.Prefix(b)
	s := rt.StartServer(b, realtime.Config{}, newBus(b, addr, prefix), rt.Options{})
	rt.BenchPublishToFrame(b, s, realtime.NewPublisher(newBus(b, addr, prefix)))
}

// BenchmarkChannelThroughput: publishers on 8 goroutines, one subscribing
// instance that keeps none of the users (the cost every instance pays per
// event on the single channel: receive, decode, index lookup). ns/op is
// per event, publish to handled.
func BenchmarkChannelThroughput(b *testing.B) {
	addr, prefix := testenv.RedisAddr(b), testenv.Prefix(b)
	sub, pub := newBus(b, addr, prefix), newBus(b, addr, prefix)
	rt.StartServer(b, realtime.Config{}, sub, rt.Options{}) // the instance's hub subscribes too
	var got atomic.Int64
	closeSub, err := sub.Subscribe(context.Background(), func(realtime.Event) { got.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	defer closeSub()
	payload := []byte(`{"type":"NEW_BADGE","userId":1,"badgeId":1,"badgeName":"First Post","badgeIcon":"🎯"}`)
	b.SetParallelism(4) // 8 publishers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := int64(2); pb.Next(); i++ {
			if err := pub.Publish(context.Background(), realtime.Event{UserID: i, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	rt.WaitFor(b, time.Minute, func() bool { return got.Load() >= int64(b.N) }, "all %d events handled", b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
