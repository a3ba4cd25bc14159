package redisstream

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/internal/testenv"
)

// Run against the shared Redis, e.g.:
//
//	go test -run '^$' -bench . -benchtime 20000x ./adapters/queue/redisstream/
//
// Every benchmark counts one op per job and reports jobs/s, so the
// transport's numbers and the go-redis ceiling (Ceiling*) compare directly.

// benchJob is a ~200-byte JSON job like the engine's envelope.
type benchJob struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Attempt       int               `json:"attempt"`
	Priority      int               `json:"priority"`
	EnqueuedAt    int64             `json:"enqueuedAt"`
	CorrelationID string            `json:"correlationId"`
	Payload       map[string]string `json:"payload"`
}

func benchPayload() []byte {
	b, _ := json.Marshal(benchJob{
		ID: watermill.NewUUID(), Name: "notification.send", Attempt: 1, EnqueuedAt: time.Now().UnixMilli(),
		CorrelationID: "c0ffee00-0000-4000-8000-000000000000",
		Payload:       map[string]string{"userId": "42", "type": "NEW_BADGE", "badgeId": "first-tip"},
	})
	return b
}

func benchClient(b *testing.B) (redis.UniversalClient, string) {
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b), PoolSize: 64})
	topic := testenv.Prefix(b) + "{bench}"
	b.Cleanup(func() {
		_ = c.Del(context.Background(), topic).Err()
		_ = c.Close()
	})
	return c, topic
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

func BenchmarkPublishOneByOne(b *testing.B) {
	c, topic := benchClient(b)
	pub := mustPublisher(b, c, PublisherConfig{})
	payload := benchPayload()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), payload)); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, start)
}

func BenchmarkPublishConcurrent50(b *testing.B) {
	c, topic := benchClient(b)
	pub := mustPublisher(b, c, PublisherConfig{})
	payload := benchPayload()
	const callers = 50
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range callers {
		n := b.N / callers
		if i < b.N%callers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), payload)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	reportRate(b, start)
}

func BenchmarkPublishBulk100(b *testing.B) {
	c, topic := benchClient(b)
	pub := mustPublisher(b, c, PublisherConfig{})
	payload := benchPayload()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		n := min(100, b.N-done)
		msgs := make([]*message.Message, n)
		for i := range msgs {
			msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	reportRate(b, start)
}

// fill writes n jobs outside the timer.
func fill(b *testing.B, c redis.UniversalClient, topic string, n int) {
	b.Helper()
	pub, err := NewPublisher(PublisherConfig{}, c, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	payload := benchPayload()
	for done := 0; done < n; {
		k := min(1000, n-done)
		msgs := make([]*message.Message, k)
		for i := range msgs {
			msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			b.Fatal(err)
		}
		done += k
	}
}

// benchDrain: InFlight workers read the channel, decode the JSON job, ack.
// The clock stops when every entry is acknowledged in Redis.
func benchDrain(b *testing.B, inFlight int) {
	c, topic := benchClient(b)
	fill(b, c, topic, b.N)
	sub := mustSubscriber(b, c, SubscriberConfig{
		ConsumerGroup: "bench", Consumer: "w1", BatchSize: 100, InFlight: inFlight,
	})
	b.ResetTimer()
	start := time.Now()
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	remaining := b.N
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range out {
				var job benchJob
				if err := json.Unmarshal(m.Payload, &job); err != nil {
					b.Error(err)
				}
				m.Ack()
				mu.Lock()
				remaining--
				last := remaining == 0
				mu.Unlock()
				if last {
					return
				}
			}
		}()
	}
	for {
		mu.Lock()
		r := remaining
		mu.Unlock()
		if r <= 0 {
			if p, err := c.XPending(context.Background(), topic, "bench").Result(); err == nil && p.Count == 0 {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	reportRate(b, start)
	b.StopTimer()
	_ = sub.Close()
	wg.Wait()
}

func BenchmarkDrainInFlight5(b *testing.B)  { benchDrain(b, 5) }
func BenchmarkDrainInFlight50(b *testing.B) { benchDrain(b, 50) }

// BenchmarkCeilingXAddPipelined100 is plain go-redis: XADD pipelined ×100.
func BenchmarkCeilingXAddPipelined100(b *testing.B) {
	c, topic := benchClient(b)
	payload := benchPayload()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		n := min(100, b.N-done)
		pipe := c.Pipeline()
		for range n {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: topic, Values: []any{
				UUIDField, watermill.NewUUID(), PayloadField, payload, MetadataField, "",
			}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	reportRate(b, start)
}

// BenchmarkCeilingXReadGroup100 is plain go-redis: XREADGROUP COUNT 100,
// decode each payload, one XACK for the batch.
func BenchmarkCeilingXReadGroup100(b *testing.B) {
	c, topic := benchClient(b)
	fill(b, c, topic, b.N)
	ctx := context.Background()
	if err := c.XGroupCreate(ctx, topic, "ceiling", "0").Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	ids := make([]string, 0, 100)
	for done := 0; done < b.N; {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "ceiling", Consumer: "c", Streams: []string{topic, ">"}, Count: 100, Block: -1,
		}).Result()
		if err != nil {
			b.Fatal(err)
		}
		ids = ids[:0]
		for _, xm := range res[0].Messages {
			var job benchJob
			if err := json.Unmarshal([]byte(xm.Values[PayloadField].(string)), &job); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, xm.ID)
		}
		if err := c.XAck(ctx, topic, "ceiling", ids...).Err(); err != nil {
			b.Fatal(err)
		}
		done += len(ids)
	}
	reportRate(b, start)
}

// BenchmarkLatency500 publishes one job every 2 ms (500 jobs/s) and reports
// the p50/p99 time from the start of Publish to the message reaching a
// consumer. Use -benchtime 2000x (4 s).
func BenchmarkLatency500(b *testing.B) {
	c, topic := benchClient(b)
	pub := mustPublisher(b, c, PublisherConfig{})
	sub := mustSubscriber(b, c, SubscriberConfig{ConsumerGroup: "bench", Consumer: "w1", InFlight: 5})
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	payload := benchPayload()
	lat := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range out {
			sent, _ := time.Parse(time.RFC3339Nano, m.Metadata.Get("sent"))
			lat = append(lat, time.Since(sent))
			m.Ack()
			if len(lat) == b.N {
				return
			}
		}
	}()
	b.ResetTimer()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for range b.N {
		<-tick.C
		m := message.NewMessage(watermill.NewUUID(), payload)
		m.Metadata.Set("sent", time.Now().Format(time.RFC3339Nano))
		if err := pub.Publish(topic, m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("not every message arrived within 30s")
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
