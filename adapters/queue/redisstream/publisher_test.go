package redisstream

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	stock "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tipbox/tipbox/internal/testenv"
)

// PublishEntries stores exactly what Publish stores for messages without
// metadata, and a stock subscriber given JSONMarshaller reads it.
func TestPublishEntriesLikePublish(t *testing.T) {
	t.Parallel()
	b := sharedBackend(t)
	c := b.client(t)
	ctx := context.Background()
	prefix := testenv.Prefix(t)
	viaPublish, viaEntries := prefix+"{pe}:publish", prefix+"{pe}:entries"
	cleanupKeys(t, c, viaPublish, viaEntries)
	pub := mustPublisher(t, c, PublisherConfig{})
	var msgs []*message.Message
	var entries []Entry
	for i := range 5 {
		id, payload := fmt.Sprintf("id-%d", i), []byte(fmt.Sprintf(`{"n":%d}`, i))
		msgs = append(msgs, message.NewMessage(id, payload))
		entries = append(entries, Entry{UUID: id, Payload: payload})
	}
	if err := pub.Publish(viaPublish, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishEntries(viaEntries, entries...); err != nil {
		t.Fatal(err)
	}
	want, _ := c.XRange(ctx, viaPublish, "-", "+").Result()
	got, _ := c.XRange(ctx, viaEntries, "-", "+").Result()
	if len(got) != 5 || len(want) != 5 {
		t.Fatalf("entries: %d via PublishEntries, %d via Publish", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Values, want[i].Values) {
			t.Fatalf("entry %d: %v, Publish stored %v", i, got[i].Values, want[i].Values)
		}
	}

	stockSub, err := stock.NewSubscriber(stock.SubscriberConfig{
		Client: b.client(t), Unmarshaller: JSONMarshaller{},
		ConsumerGroup: "stock", Consumer: "stock-1", BlockTime: 50 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stockSub.Close()
	ch, err := stockSub.Subscribe(ctx, viaEntries)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		m := receive(t, ch, 10*time.Second)
		if m.UUID != e.UUID || string(m.Payload) != string(e.Payload) || len(m.Metadata) != 0 {
			t.Fatalf("stock subscriber read %s %q %v, want %s %q", m.UUID, m.Payload, m.Metadata, e.UUID, e.Payload)
		}
		m.Ack()
	}
}

// Concurrent callers coalesce (see Publisher.linger) and every entry is
// stored exactly once, in each caller's order.
func TestPublishConcurrentCallersAllStored(t *testing.T) {
	t.Parallel()
	c := sharedBackend(t).client(t)
	topic := testenv.Prefix(t) + "{pc}"
	cleanupKeys(t, c, topic)
	pub := mustPublisher(t, c, PublisherConfig{})
	const callers, each = 20, 50
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := pub.PublishEntries(topic, Entry{UUID: fmt.Sprintf("%d-%d", g, i), Payload: []byte("{}")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := c.XRange(context.Background(), topic, "-", "+").Result()
	if err != nil || len(got) != callers*each {
		t.Fatalf("%d entries (%v), want %d", len(got), err, callers*each)
	}
	next := map[int]int{}
	for _, e := range got {
		var g, i int
		if _, err := fmt.Sscanf(e.Values[UUIDField].(string), "%d-%d", &g, &i); err != nil || i != next[g] {
			t.Fatalf("entry %v out of order (want %d-%d)", e.Values, g, next[g])
		}
		next[g]++
	}
}
