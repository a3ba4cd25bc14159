package redisstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	stock "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/internal/testenv"
)

// scenario runs against one backend with a fresh, hash-tagged topic (all of
// a topic's keys in one cluster slot).
type scenario func(t *testing.T, b backend, c redis.UniversalClient, topic string)

var scenarios = []struct {
	name string
	fn   scenario
}{
	{"StockSubscriberReadsOurEntries", testStockInterop},
	{"InFlightLimitAndNackFirst", testInFlightAndNack},
	{"NackDoesNotBlockOthers", testNackDoesNotBlock},
	{"CoalescedAcks", testCoalescedAcks},
	{"CloseFlushesAcksAndRestartResumes", testCloseAndRestart},
	{"CloseReleasesReadAheadToOthers", testCloseReleasesReadAhead},
	{"CrashedConsumerResumesOwnPending", testCrashedConsumerResumes},
	{"TakeoverOfDeadConsumer", testTakeover},
	{"LeaseRenewalKeepsLongJobs", testLeaseRenewal},
	{"UndecodableEntryDeadLettered", testDeadLetter},
	{"GracefulCloseWaitsForInFlight", testGracefulCloseWaits},
	{"CloseTimeoutLeavesEntryPending", testCloseTimeout},
	{"TrimAcked", testTrimAcked},
	{"PublishMaxLen", testPublishMaxLen},
	{"PublishBatchesConcurrentCallers", testPublishBatching},
	{"PublishLingerAndClose", testPublishLinger},
	{"SameTopicTwiceUsesDistinctConsumers", testSameTopicTwice},
}

func runScenarios(t *testing.T, b backend) {
	c := b.client(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			// e.g. "test:TestTransport_redis_TakeoverOfDeadConsumer:123:4:{q}:jobs"
			topic := testenv.Prefix(t) + "{q}:jobs"
			cleanupKeys(t, c, topic)
			sc.fn(t, b, c, topic)
		})
	}
}

func TestTransport(t *testing.T) {
	t.Run("redis", func(t *testing.T) { runScenarios(t, sharedBackend(t)) })
	t.Run("cluster", func(t *testing.T) { runScenarios(t, clusterBackend(t)) })
}

func fastSubConfig(consumer string) SubscriberConfig {
	return SubscriberConfig{
		ConsumerGroup: "workers",
		Consumer:      consumer,
		BatchSize:     100,
		InFlight:      5,
		BlockTime:     50 * time.Millisecond,
		ClaimInterval: 50 * time.Millisecond,
		MinIdleTime:   time.Minute,
		CloseTimeout:  5 * time.Second,
	}
}

// testStockInterop: entries keep watermill-redisstream's layout, with JSON
// metadata readable in redis-cli; a stock Subscriber given JSONMarshaller
// reads what our Publisher wrote, and ours reads what a stock Publisher wrote.
func testStockInterop(t *testing.T, b backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	pub := mustPublisher(t, c, PublisherConfig{})
	ours := newMsgs(10, "ours-")
	for i, m := range ours {
		m.Metadata.Set("n", fmt.Sprint(i))
		m.Metadata.Set("correlation_id", "abc")
	}
	if err := pub.Publish(topic, ours...); err != nil {
		t.Fatal(err)
	}

	raw, err := c.XRange(ctx, topic, "-", "+").Result()
	if err != nil || len(raw) != 10 {
		t.Fatalf("xrange: %v, %d entries", err, len(raw))
	}
	v := raw[3].Values
	if v[UUIDField] != ours[3].UUID || v[PayloadField] != `{"n":1}` || v[MetadataField] != `{"correlation_id":"abc","n":"3"}` {
		t.Fatalf("entry fields not in the stock layout / not readable JSON: %#v", v)
	}

	stockClient := b.client(t) // stock Close closes its client: give it its own
	stockSub, err := stock.NewSubscriber(stock.SubscriberConfig{
		Client: stockClient, Unmarshaller: JSONMarshaller{},
		ConsumerGroup: "stock", Consumer: "stock-1", BlockTime: 50 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stockSub.Close()
	ch, err := stockSub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ours {
		got := receive(t, ch, 10*time.Second)
		if got.UUID != want.UUID || string(got.Payload) != string(want.Payload) ||
			got.Metadata.Get("n") != fmt.Sprint(i) || got.Metadata.Get("correlation_id") != "abc" {
			t.Fatalf("stock subscriber read %s %q %v, want %s", got.UUID, got.Payload, got.Metadata, want.UUID)
		}
		got.Ack()
	}

	stockPub, err := stock.NewPublisher(stock.PublisherConfig{Client: b.client(t), Marshaller: JSONMarshaller{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	theirs := newMsgs(5, "stock-")
	theirs[0].Metadata.Set("k", "v")
	if err := stockPub.Publish(topic, theirs...); err != nil {
		t.Fatal(err)
	}
	sub := mustSubscriber(t, c, fastSubConfig("w1"))
	out, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 15 {
		m := receive(t, out, 10*time.Second)
		seen[m.UUID] = true
		if m.UUID == theirs[0].UUID && m.Metadata.Get("k") != "v" {
			t.Errorf("metadata lost: %v", m.Metadata)
		}
		m.Ack()
	}
	for _, m := range append(ours, theirs...) {
		if !seen[m.UUID] {
			t.Errorf("missing %s", m.UUID)
		}
	}
}

// testInFlightAndNack: at most InFlight unsettled messages; a nacked one is
// redelivered before newer entries.
func testInFlightAndNack(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	msgs := newMsgs(10, "")
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("w1")
	cfg.InFlight = 3
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	held := []*message.Message{receive(t, out, 5*time.Second), receive(t, out, 5*time.Second), receive(t, out, 5*time.Second)}
	select {
	case m := <-out:
		t.Fatalf("a 4th message %s was delivered with InFlight 3 and none settled", m.UUID)
	case <-time.After(150 * time.Millisecond):
	}
	held[1].Nack()
	again := receive(t, out, 5*time.Second)
	if again.UUID != held[1].UUID {
		t.Fatalf("after a nack got %s, want the nacked %s first", again.UUID, held[1].UUID)
	}
	held[0].Ack()
	held[2].Ack()
	again.Ack()
	seen := map[string]bool{held[0].UUID: true, held[1].UUID: true, held[2].UUID: true}
	for len(seen) < 10 {
		m := receive(t, out, 5*time.Second)
		seen[m.UUID] = true
		m.Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
}

// testNackDoesNotBlock: a message nacked over and over occupies no slot
// while it waits, so the others keep flowing with InFlight 2.
func testNackDoesNotBlock(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	poison := message.NewMessage("poison", []byte("{}"))
	if err := pub.Publish(topic, append([]*message.Message{poison}, newMsgs(50, "good-")...)...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("w1")
	cfg.InFlight = 2
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]bool{}
	nacks := 0
	for len(good) < 50 {
		m := receive(t, out, 5*time.Second)
		if m.UUID == "poison" {
			nacks++
			m.Nack()
			continue
		}
		good[m.UUID] = true
		m.Ack()
	}
	if nacks == 0 {
		t.Fatal("poison message never delivered")
	}
	for { // the poison message is still being offered: ack it now
		m := receive(t, out, 5*time.Second)
		if m.UUID == "poison" {
			m.Ack()
			break
		}
		m.Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
}

// cmdCounter counts commands by name, pipelines included.
type cmdCounter struct {
	mu        sync.Mutex
	cmds      map[string]int
	pipelines int
	singles   int
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.cmds[cmd.Name()]++
		h.singles++
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.pipelines++
		for _, c := range cmds {
			h.cmds[c.Name()]++
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}
func (h *cmdCounter) get(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cmds[name]
}
func (h *cmdCounter) roundTrips() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.singles + h.pipelines
}

func countedClient(t *testing.T, b backend) (redis.UniversalClient, *cmdCounter) {
	c := b.client(t)
	h := &cmdCounter{cmds: map[string]int{}}
	c.AddHook(h)
	return c, h
}

// testCoalescedAcks: one XACK acknowledges many entries.
func testCoalescedAcks(t *testing.T, b backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	const n = 1000
	if err := pub.Publish(topic, newMsgs(n, "")...); err != nil {
		t.Fatal(err)
	}
	subClient, counter := countedClient(t, b)
	sub := mustSubscriber(t, subClient, fastSubConfig("w1"))
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		receive(t, out, 5*time.Second).Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
	if x := counter.get("xack"); x == 0 || x > n/10 {
		t.Fatalf("%d XACK commands for %d messages: acks not coalesced", x, n)
	} else {
		t.Logf("%d messages acked with %d XACK commands", n, x)
	}
}

// testCloseAndRestart: Close flushes coalesced acks and leaves the read-ahead
// entries pending for this consumer; a restart with the same name resumes
// them at once (MinIdleTime is a minute here).
func testCloseAndRestart(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(20, "")...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("w1")
	cfg.AckFlushInterval = time.Hour // only Close can flush these acks
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for range 5 {
		m := receive(t, out, 5*time.Second)
		acked[m.UUID] = true
		m.Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 20 }, "all 20 read ahead, have %d", pendingCount(t, c, topic, "workers"))
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-out; open {
		t.Fatal("channel still open after Close")
	}
	if p := pendingCount(t, c, topic, "workers"); p != 15 {
		t.Fatalf("after Close %d pending, want 15 (5 acks flushed)", p)
	}

	start := time.Now()
	sub2 := mustSubscriber(t, c, fastSubConfig("w1"))
	out2, err := sub2.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 15 {
		m := receive(t, out2, time.Second)
		if acked[m.UUID] {
			t.Fatalf("acked message %s delivered again", m.UUID)
		}
		m.Ack()
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("restart resumed after %s, want < 1s", d)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
}

// testCloseReleasesReadAhead: entries read ahead but never delivered are
// marked idle on Close, so another live consumer takes them over at its next
// claim (not after MinIdleTime) when the closed worker does not come back.
func testCloseReleasesReadAhead(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(20, "")...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("leaving")
	cfg.InFlight = 1
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	first := receive(t, out, 5*time.Second)
	first.Ack()
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 19 }, "19 read ahead")
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	other := mustSubscriber(t, c, fastSubConfig("staying")) // MinIdleTime: 1 minute
	out2, err := other.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 19 {
		m := receive(t, out2, 5*time.Second)
		if m.UUID == first.UUID {
			t.Fatal("acked message delivered again")
		}
		seen[m.UUID] = true
		m.Ack()
	}
	t.Logf("another consumer took over 19 released entries in %s (MinIdleTime %s)", time.Since(start), time.Minute)
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
}

// testCrashedConsumerResumes: entries a consumer read and never acked (it
// crashed) are re-read at once when a consumer with its name starts.
func testCrashedConsumerResumes(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(10, "")...); err != nil {
		t.Fatal(err)
	}
	if err := ensureGroup(ctx, c, topic, "workers", "0"); err != nil {
		t.Fatal(err)
	}
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: "w2", Streams: []string{topic, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	sub := mustSubscriber(t, c, fastSubConfig("w2"))
	out, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		receive(t, out, time.Second).Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
}

// testTakeover: a dead consumer's entries are claimed after MinIdleTime.
func testTakeover(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(10, "")...); err != nil {
		t.Fatal(err)
	}
	if err := ensureGroup(ctx, c, topic, "workers", "0"); err != nil {
		t.Fatal(err)
	}
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: "dead", Streams: []string{topic, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("alive")
	cfg.MinIdleTime = 200 * time.Millisecond
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 10 {
		m := receive(t, out, 5*time.Second)
		seen[m.UUID] = true
		m.Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "all acked")
}

// testLeaseRenewal: a handler running longer than MinIdleTime keeps its
// message; another consumer's XAUTOCLAIM does not take it.
func testLeaseRenewal(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(1, "")...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("a")
	cfg.MinIdleTime = 300 * time.Millisecond
	subA := mustSubscriber(t, c, cfg)
	outA, err := subA.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, outA, 5*time.Second)
	cfg.Consumer = "b"
	subB := mustSubscriber(t, c, cfg)
	outB, err := subB.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case stolen := <-outB:
		t.Fatalf("consumer b took %s from a live consumer", stolen.UUID)
	case <-time.After(4 * cfg.MinIdleTime):
	}
	m.Ack()
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "acked")
}

type deadLetterCall struct {
	id     string
	fields map[string]any
	err    error
}

// testDeadLetter: an entry written by hand goes to DeadLetter and is acked;
// a failing DeadLetter is retried after MinIdleTime; good entries keep
// flowing meanwhile.
func testDeadLetter(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	calls := make(chan deadLetterCall, 10)
	var failures atomic.Int32
	cfg := fastSubConfig("w1")
	cfg.MinIdleTime = 200 * time.Millisecond
	cfg.DeadLetter = func(_ context.Context, gotTopic, id string, fields map[string]any, err error) error {
		if gotTopic != topic {
			t.Errorf("dead letter topic %q", gotTopic)
		}
		calls <- deadLetterCall{id, fields, err}
		if failures.Add(1) == 1 {
			return errors.New("dead-letter store down")
		}
		return nil
	}
	badID, err := c.XAdd(ctx, &redis.XAddArgs{Stream: topic, Values: []string{"garbage", "not a job"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(5, "")...); err != nil {
		t.Fatal(err)
	}
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		receive(t, out, 5*time.Second).Ack()
	}
	for i := range 2 {
		select {
		case call := <-calls:
			if call.id != badID || call.fields["garbage"] != "not a job" || !errors.Is(call.err, ErrMissingUUID) {
				t.Fatalf("dead letter call %d: %+v", i, call)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("dead letter call %d missing", i)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "undecodable entry acked")
	// Still flowing after it.
	more := newMsgs(3, "after-")
	if err := pub.Publish(topic, more...); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		receive(t, out, 5*time.Second).Ack()
	}
}

// testGracefulCloseWaits: Close waits for a delivered message to be acked,
// then flushes the ack.
func testGracefulCloseWaits(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(1, "")...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("w1")
	cfg.AckFlushInterval = time.Hour
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, out, 5*time.Second)
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a handler still held a message")
	case <-time.After(200 * time.Millisecond):
	}
	if m.Context().Err() != nil {
		t.Fatal("message context cancelled while its handler runs during a graceful Close")
	}
	m.Ack()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the ack")
	}
	if p := pendingCount(t, c, topic, "workers"); p != 0 {
		t.Fatalf("%d pending after Close: ack not flushed", p)
	}
}

// testCloseTimeout: a message never settled does not hold Close past
// CloseTimeout; its context is cancelled and the entry stays pending.
func testCloseTimeout(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(1, "")...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubConfig("w1")
	cfg.CloseTimeout = 200 * time.Millisecond
	sub := mustSubscriber(t, c, cfg)
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, out, 5*time.Second)
	start := time.Now()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %s with CloseTimeout 200ms", d)
	}
	select {
	case <-m.Context().Done():
	default:
		t.Fatal("message context not cancelled after Close timed out")
	}
	if p := pendingCount(t, c, topic, "workers"); p != 1 {
		t.Fatalf("%d pending, want the unsettled entry left pending", p)
	}
}

// testTrimAcked: trimming removes exactly what every group acknowledged.
func testTrimAcked(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(1000, "")...); err != nil {
		t.Fatal(err)
	}
	entries, err := c.XRange(ctx, topic, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	xlen := func() int64 { n, _ := c.XLen(ctx, topic).Result(); return n }
	first := func() string {
		e, _ := c.XRangeN(ctx, topic, "-", "+", 1).Result()
		if len(e) == 0 {
			return ""
		}
		return e[0].ID
	}

	// Group "workers" drains everything through the Subscriber.
	sub := mustSubscriber(t, c, fastSubConfig("w1"))
	out, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		receive(t, out, 5*time.Second).Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "drained")

	// Group "slow" has read 300 and acked the first 200.
	if err := ensureGroup(ctx, c, topic, "slow", "0"); err != nil {
		t.Fatal(err)
	}
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "slow", Consumer: "s", Streams: []string{topic, ">"}, Count: 300, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.XAck(ctx, topic, "slow", ids[:200]...).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := sub.Trim(ctx, topic); err != nil || n != 200 || xlen() != 800 || first() != ids[200] {
		t.Fatalf("trim with pending: removed %d (%v), %d left starting %s; want 200, 800, %s", n, err, xlen(), first(), ids[200])
	}
	// Nothing pending in "slow", 700 never delivered to it: they stay.
	if err := c.XAck(ctx, topic, "slow", ids[200:300]...).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := TrimAcked(ctx, c, topic); err != nil || n != 100 || xlen() != 700 || first() != ids[300] {
		t.Fatalf("trim at last-delivered: removed %d (%v), %d left; want 100, 700", n, err, xlen())
	}
	if err := c.XGroupDestroy(ctx, topic, "slow").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := TrimAcked(ctx, c, topic); err != nil || n != 700 || xlen() != 0 {
		t.Fatalf("trim after all acked: removed %d (%v), %d left; want 700, 0", n, err, xlen())
	}
	if n, err := TrimAcked(ctx, c, topic+":missing"); err != nil || n != 0 {
		t.Fatalf("trim of a missing stream: %d, %v", n, err)
	}
}

// testPublishMaxLen: MAXLEN ~ caps the stream.
func testPublishMaxLen(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	pub := mustPublisher(t, c, PublisherConfig{MaxLen: 100})
	for range 20 {
		if err := pub.Publish(topic, newMsgs(100, "")...); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.XLen(context.Background(), topic).Result()
	if err != nil || n < 100 || n > 300 {
		t.Fatalf("XLEN %d (%v) after 2000 entries with MaxLen ~100", n, err)
	}
}

// testPublishBatching: 50 concurrent callers share pipelines; a bulk
// Publish keeps its order; every Publish returns after its entries exist.
func testPublishBatching(t *testing.T, b backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	pc, counter := countedClient(t, b)
	pub := mustPublisher(t, pc, PublisherConfig{})
	const callers, each = 50, 20
	var wg sync.WaitGroup
	var stored atomic.Int64
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range newMsgs(each, "") {
				if err := pub.Publish(topic, m); err != nil {
					t.Error(err)
					return
				}
				stored.Add(1)
				if n, err := c.XLen(ctx, topic).Result(); err != nil || n < 1 {
					t.Errorf("XLEN %d (%v) after Publish returned", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := c.XLen(ctx, topic).Result(); n != callers*each {
		t.Fatalf("XLEN %d, want %d", n, callers*each)
	}
	rt := counter.roundTrips()
	t.Logf("%d entries from %d concurrent callers in %d round trips", callers*each, callers, rt)
	if rt > callers*each/2 {
		t.Fatalf("%d round trips for %d entries: concurrent publishes were not batched", rt, callers*each)
	}

	bulk := newMsgs(100, "bulk-")
	if err := pub.Publish(topic+":bulk", bulk...); err != nil {
		t.Fatal(err)
	}
	cleanupKeys(t, c, topic+":bulk")
	got, err := c.XRange(ctx, topic+":bulk", "-", "+").Result()
	if err != nil || len(got) != 100 {
		t.Fatalf("bulk: %v, %d entries", err, len(got))
	}
	for i := range got {
		if got[i].Values[UUIDField] != bulk[i].UUID {
			t.Fatalf("bulk entry %d is %v, want %s: order lost", i, got[i].Values[UUIDField], bulk[i].UUID)
		}
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic, newMsgs(1, "")...); !errors.Is(err, ErrPublisherClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

// testPublishLinger: with FlushInterval a flusher waits for more callers;
// Close sends what was accepted before returning.
func testPublishLinger(t *testing.T, b backend, c redis.UniversalClient, topic string) {
	pc, counter := countedClient(t, b)
	pub := mustPublisher(t, pc, PublisherConfig{FlushInterval: 2 * time.Millisecond, Pipelines: 1})
	const callers, each = 20, 10
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range newMsgs(each, "") {
				if err := pub.Publish(topic, m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.XLen(context.Background(), topic).Result(); err != nil || n != callers*each {
		t.Fatalf("XLEN %d (%v), want %d", n, err, callers*each)
	}
	if rt := counter.roundTrips(); rt > callers*each/2 {
		t.Fatalf("%d round trips for %d entries with a 2ms linger", rt, callers*each)
	}
}

// testSameTopicTwice: two concurrent subscriptions to one topic on one
// Subscriber get distinct consumer names (they would otherwise re-read each
// other's pending entries).
func testSameTopicTwice(t *testing.T, _ backend, c redis.UniversalClient, topic string) {
	ctx := context.Background()
	sub := mustSubscriber(t, c, fastSubConfig("w"))
	out1, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pub := mustPublisher(t, c, PublisherConfig{})
	if err := pub.Publish(topic, newMsgs(200, "")...); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for seen < 200 {
		select {
		case m := <-out1:
			m.Ack()
		case m := <-out2:
			m.Ack()
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of 200 received", seen)
		}
		seen++
	}
	consumers, err := c.XInfoConsumers(ctx, topic, "workers").Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ci := range consumers {
		names = append(names, ci.Name)
	}
	if got := strings.Join(names, ","); got != "w,w-2" {
		t.Fatalf("consumers %q, want w,w-2", got)
	}
}

// TestReconnectAfterRedisRestart kills the Redis server (no persistence:
// stream and group are gone) and restarts it: the subscriber recreates the
// group after NOGROUP and consumes what is published afterwards; the
// publisher recovers too.
func TestReconnectAfterRedisRestart(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 500 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	const topic = "tipbox:{notifications}:jobs"
	pub := mustPublisher(t, c, PublisherConfig{})
	logs := &recordingLogger{LoggerAdapter: testLogger()}
	sub, err := NewSubscriber(fastSubConfig("w1"), c, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	out, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic, newMsgs(50, "before-")...); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		receive(t, out, 5*time.Second).Ack()
	}

	srv.Kill()
	if err := pub.Publish(topic, newMsgs(1, "lost-")...); err == nil {
		t.Fatal("Publish succeeded with Redis down")
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return logs.saw("XREADGROUP failed, retrying") }, "reader saw the outage")
	srv.Start()

	after := newMsgs(50, "after-")
	for _, m := range after {
		testenv.Eventually(t, 15*time.Second, func() bool { return pub.Publish(topic, m) == nil }, "publish after restart")
	}
	want := map[string]bool{}
	for _, m := range after {
		want[m.UUID] = true
	}
	for len(want) > 0 {
		m := receive(t, out, 15*time.Second)
		delete(want, m.UUID)
		m.Ack()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return pendingCount(t, c, topic, "workers") == 0 }, "acked after restart")
	if !logs.saw("Consumer group missing, recreating it") {
		t.Fatal("the group was not recreated after NOGROUP")
	}
}

// recordingLogger remembers Info and Error messages on top of another logger.
type recordingLogger struct {
	watermill.LoggerAdapter
	mu   sync.Mutex
	msgs []string
}

func (l *recordingLogger) Info(msg string, fields watermill.LogFields) {
	l.mu.Lock()
	l.msgs = append(l.msgs, msg)
	l.mu.Unlock()
	l.LoggerAdapter.Info(msg, fields)
}

func (l *recordingLogger) Error(msg string, err error, fields watermill.LogFields) {
	l.mu.Lock()
	l.msgs = append(l.msgs, msg)
	l.mu.Unlock()
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l *recordingLogger) With(watermill.LogFields) watermill.LoggerAdapter { return l }

func (l *recordingLogger) saw(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.msgs, msg)
}
