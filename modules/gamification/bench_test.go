package gamification_test

import (
	"fmt"
	"testing"

	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/user"
)

// BenchmarkGrant is one grant at a time on each backend: the grant's own
// round trips (the user check, the grant with its outbox row) with a queue
// that takes the notification at once.
func BenchmarkGrant(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(backend, func(b *testing.B) {
			r := newRig(b, backend)
			ctx := b.Context()
			badges, err := r.svc.Badges(ctx)
			if err != nil {
				b.Fatal(err)
			}
			users := make([]int64, (b.N+len(badges)-1)/len(badges))
			for i := range users {
				u, err := r.users.Create(ctx, user.User{Username: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i)})
				if err != nil {
					b.Fatal(err)
				}
				users[i] = u.ID
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := r.svc.GrantBadge(ctx, users[i/len(badges)], badges[i%len(badges)].ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
