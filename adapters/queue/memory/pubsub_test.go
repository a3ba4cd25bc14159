package memory

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
)

// TestUniversal runs Watermill's universal Pub/Sub suite. All PubSubs of
// one run share a Broker, as the processes' components do, so messages
// outlive a closed PubSub (Persistent). Subscribers compete for messages;
// there are no consumer groups and no ordering once messages are nacked.
func TestUniversal(t *testing.T) {
	broker := NewBroker()
	features := tests.Features{
		ConsumerGroups:                      false,
		ExactlyOnceDelivery:                 false,
		GuaranteedOrder:                     false,
		GuaranteedOrderWithSingleSubscriber: false,
		Persistent:                          true,
		RequireSingleInstance:               true,
	}
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			ps := NewPubSub(broker, 16)
			return ps, ps
		},
		func(t *testing.T, _ string) (message.Publisher, message.Subscriber) {
			ps := NewPubSub(broker, 16)
			return ps, ps
		})
}
