package redis

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/internal/testenv"
)

// The go-redis ceiling of the table, measured in the same run:
// raw XADD pipelined ×100, and XREADGROUP COUNT 100 + one XACK per batch,
// with the same 200-byte job and no queue logic at all.

func ceilingStream(b *testing.B) (goredis.UniversalClient, string, []byte) {
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(b)})
	prefix := testenv.Prefix(b)
	b.Cleanup(func() {
		deleteKeys(b, c, prefix)
		_ = c.Close()
	})
	body, _ := json.Marshal(map[string]any{"id": "3f1c2d9e-7b7a-4c1e-9a51-2b8f0c6d4e11", "queue": "bench", "name": "event",
		"payload": map[string]any{"userId": 1, "event": "profile_view", "timestamp": "2026-11-27T10:00:00.000Z",
			"data": map[string]string{"source": "web", "ref": "notification", "agent": "Mozilla/5.0 (X11; Linux x86_64)"}},
		"attempt": 1, "maxAttempts": 3, "priority": "normal", "enqueuedAt": time.Now()})
	return c, prefix + "{bench}:normal", body
}

func ceilingFill(b *testing.B, c goredis.UniversalClient, stream string, body []byte) {
	ctx := context.Background()
	for n := 0; n < b.N; n += 100 {
		_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i := 0; i < min(100, b.N-n); i++ {
				p.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"_watermill_message_uuid", "x", "payload", body, "metadata", ""}})
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCeilingXAddPipelined100(b *testing.B) {
	c, stream, body := ceilingStream(b)
	b.ResetTimer()
	start := time.Now()
	ceilingFill(b, c, stream, body)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

func BenchmarkCeilingXReadGroup100(b *testing.B) {
	c, stream, body := ceilingStream(b)
	ctx := context.Background()
	ceilingFill(b, c, stream, body)
	if err := c.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; {
		res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: 100}).Result()
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, 0, 100)
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		if err := c.XAck(ctx, stream, "g", ids...).Err(); err != nil {
			b.Fatal(err)
		}
		n += len(ids)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}
