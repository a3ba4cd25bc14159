package redisstream

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/redis/go-redis/v9"
)

// universalFeatures is what this transport honestly offers:
//   - consumer groups (competing consumers inside a group, every group gets
//     every message);
//   - at-least-once, not exactly-once;
//   - order only with one subscriber (the dispatcher sends in stream order;
//     several consumers or InFlight > 1 with nacks reorder);
//   - persistent streams; a new consumer group reads the stream from its
//     start (StartID "0"), so a new subscriber in its own group gets old
//     messages.
//
// Reconnect is covered by TestReconnectAfterRedisRestart (own server,
// killed and restarted); the suite's TestReconnect needs a restart command
// for the shared server, which tests must never restart.
var universalFeatures = tests.Features{
	ConsumerGroups:                      true,
	ExactlyOnceDelivery:                 false,
	GuaranteedOrder:                     false,
	GuaranteedOrderWithSingleSubscriber: true,
	Persistent:                          true,
	RequireSingleInstance:               false,
	NewSubscriberReceivesOldMessages:    true,
}

// universalConstructors builds the suite's constructors. The plain
// constructor puts every subscriber of one suite test in one consumer group
// (derived from the test name), so the suite exercises competing consumers,
// stranded read-ahead and takeover — except TestNewSubscriberReceivesOldMessages,
// whose contract is one group per subscriber.
//
// CloseTimeout is short because the suite's subscriber multiplier leaves one
// delivered message un-acked per subscriber and closes them one by one.
func universalConstructors(b backend, inFlight int) (tests.PubSubConstructor, tests.ConsumerGroupPubSubConstructor) {
	withGroup := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		c := b.client(t)
		pub, err := NewPublisher(PublisherConfig{}, c, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		sub, err := NewSubscriber(SubscriberConfig{
			ConsumerGroup: group,
			Consumer:      watermill.NewShortUUID(),
			BatchSize:     50,
			InFlight:      inFlight,
			BlockTime:     50 * time.Millisecond,
			ClaimInterval: 200 * time.Millisecond,
			MinIdleTime:   time.Second,
			CloseTimeout:  200 * time.Millisecond,
		}, c, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		return pub, sub
	}
	plain := func(t *testing.T) (message.Publisher, message.Subscriber) {
		group := "per-subscriber-" + watermill.NewShortUUID()
		if !strings.Contains(t.Name(), "TestNewSubscriberReceivesOldMessages") {
			// t.Name() is "<top>/TestX/<uuid>": one group per suite test.
			sum := sha1.Sum([]byte(t.Name()))
			group = "suite-" + hex.EncodeToString(sum[:8])
		}
		return withGroup(t, group)
	}
	return plain, withGroup
}

// TestUniversalSuite runs Watermill's universal Pub/Sub suite against the
// shared Redis: full in `go test`, reduced with -short.
func TestUniversalSuite(t *testing.T) {
	b := sharedBackend(t)
	f := universalFeatures
	f.ForceShort = testing.Short()
	prefix := fmt.Sprintf("tipbox-test:universal:%d:", os.Getpid())
	f.GenerateTopicFunc = func(tctx tests.TestContext) string {
		return prefix + "{" + string(tctx.TestID) + "}"
	}
	pubsub, group := universalConstructors(b, 8)
	t.Cleanup(func() { deleteByPrefix(t, b.client(t), prefix) })
	tests.TestPubSub(t, f, pubsub, group)
}

// TestUniversalSuiteCluster runs the same suite on a fresh local 3-master
// Redis Cluster (topic names are single keys, so any slot works).
func TestUniversalSuiteCluster(t *testing.T) {
	b := clusterBackend(t)
	f := universalFeatures
	f.ForceShort = testing.Short()
	pubsub, group := universalConstructors(b, 8)
	tests.TestPubSub(t, f, pubsub, group)
}

// TestUniversalSuiteOrdered runs the suite with InFlight 1, where this
// transport also guarantees order with a single subscriber and holds the
// next message until the current one is acked (TestNoAck,
// TestPublishSubscribeInOrder run here; nacks are redelivered first).
func TestUniversalSuiteOrdered(t *testing.T) {
	b := sharedBackend(t)
	f := universalFeatures
	f.GuaranteedOrder = true
	f.ForceShort = testing.Short()
	prefix := fmt.Sprintf("tipbox-test:universal-ordered:%d:", os.Getpid())
	f.GenerateTopicFunc = func(tctx tests.TestContext) string {
		return prefix + "{" + string(tctx.TestID) + "}"
	}
	pubsub, group := universalConstructors(b, 1)
	t.Cleanup(func() { deleteByPrefix(t, b.client(t), prefix) })
	tests.TestPubSub(t, f, pubsub, group)
}

// deleteByPrefix removes the streams a test wrote to the shared Redis.
func deleteByPrefix(t testing.TB, c redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		_ = c.Del(ctx, iter.Val()).Err()
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
	}
}
