package smtp_test

import (
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/email/smtp"
	"github.com/tipbox/tipbox/internal/smtptest"
)

// BenchmarkSendPooled sends notification-sized messages (text + HTML) to
// a local SMTP server over the default pool of 4 connections, from 16
// goroutines (a worker's email queue at concurrency 16). The goal is at
// least 500 msg/s.
func BenchmarkSendPooled(b *testing.B) {
	srv := smtptest.Start(b)
	srv.Discard()
	s := newSender(b, srv, func(c *smtp.Config) { c.PoolSize = 4 })
	m := message("bench@example.com")
	b.SetParallelism(8) // × GOMAXPROCS goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Send(b.Context(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
