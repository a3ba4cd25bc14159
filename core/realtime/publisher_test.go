package realtime_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tipbox/tipbox/core/realtime"
)

// plainBus is a Bus without PublishBatch; it refuses user 2's events.
type plainBus struct {
	realtime.Bus
	got []int64
}

func (b *plainBus) Publish(_ context.Context, ev realtime.Event) error {
	b.got = append(b.got, ev.UserID)
	if ev.UserID == 2 {
		return errors.New("refused")
	}
	return nil
}

// On a bus that cannot take a batch, PublishBatch publishes each event in
// order, tries them all and returns the first error.
func TestPublishBatchOnAPlainBus(t *testing.T) {
	t.Parallel()
	bus := &plainBus{}
	evs := []realtime.Event{{UserID: 1, Payload: []byte(`{}`)}, {UserID: 2, Payload: []byte(`{}`)}, {UserID: 3, Payload: []byte(`{}`)}}
	err := realtime.NewPublisher(bus).PublishBatch(t.Context(), evs)
	if err == nil || err.Error() != "refused" || len(bus.got) != 3 || bus.got[0] != 1 || bus.got[2] != 3 {
		t.Fatalf("err %v, published %v", err, bus.got)
	}
	if err := realtime.NewPublisher(bus).PublishBatch(t.Context(), nil); err != nil || len(bus.got) != 3 {
		t.Fatalf("empty batch: %v, published %v", err, bus.got)
	}
}
