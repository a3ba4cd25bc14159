package postgres

import (
	"testing"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

// Run: go test -run '^$' -bench . -benchtime 2000x ./adapters/queue/postgres/
// (tools/pgqueuebench compares the driver with River.)

func openBench(tb testing.TB, cfg queue.Config) queue.Backend {
	return openBackend(tb, openDB(tb), cfg, nil)
}

func BenchmarkEnqueueSingle(b *testing.B)      { queuetest.BenchEnqueueSingle(b, openBench) }
func BenchmarkEnqueueBulk100(b *testing.B)     { queuetest.BenchEnqueueBulk(b, openBench) }
func BenchmarkDrainConcurrency5(b *testing.B)  { queuetest.BenchDrain(b, openBench, 5) }
func BenchmarkDrainConcurrency50(b *testing.B) { queuetest.BenchDrain(b, openBench, 50) }
func BenchmarkDrainBatchC5(b *testing.B)       { queuetest.BenchDrainBatch(b, openBench, 5) }
func BenchmarkJobByID(b *testing.B)            { queuetest.BenchJobByID(b, openBench) }
func BenchmarkDrainLimitedC5(b *testing.B)     { queuetest.BenchDrainLimited(b, openBench, 5) }
func BenchmarkFairness100Groups(b *testing.B)  { queuetest.BenchFairness(b, openBench) }
