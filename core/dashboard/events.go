package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
)

// flushDelay bounds how long an event waits for the ones that follow it
// before their batch is sent; maxBatch bounds a batch.
const (
	flushDelay = 20 * time.Millisecond
	maxBatch   = 500
)

// events streams the transitions of every queue (or of those named by
// ?queues=a,b) as Server-Sent Events, so a tab holds one connection
// whatever it shows. Each message carries a batch: its data is a JSON
// array of events, oldest first. Each listener comes from the process's
// EventHub, which reads a queue's events once for all the streams open on
// it.
//
// A message's id is the whole stream's position after its last event: one
// queue=eventID pair per queue, query-encoded. A client that reconnects
// with it as Last-Event-ID (header, or ?lastEventId=) first gets what each
// queue produced since, from the bounded history, then the live events.
func (d *Dashboard) events(c *fiber.Ctx) error {
	queues := d.deps.Admin.Queues()
	if v := c.Query("queues"); v != "" {
		var want []string
		for _, q := range strings.Split(v, ",") {
			if !slices.Contains(queues, q) {
				return httpserver.Error(fiber.StatusNotFound, "queue_not_found", fmt.Sprintf("queues: no queue %q", q))
			}
			want = append(want, q)
		}
		queues = want
	}
	var resume url.Values
	if last := c.Get("Last-Event-ID", c.Query("lastEventId")); last != "" {
		v, err := url.ParseQuery(last)
		if err != nil {
			return httpserver.BadRequest("Last-Event-ID: not an id this stream sent")
		}
		resume = v
	}
	// Each queue's position is read before listening: a resumed stream may
	// then replay an event the live listener also delivers (skipped below),
	// and never misses one.
	pos := url.Values{}
	for _, q := range queues {
		if resume.Has(q) {
			pos.Set(q, resume.Get(q))
			continue
		}
		st, err := d.deps.Store.Stats(c.UserContext(), q)
		if err != nil {
			return httpserver.Error(fiber.StatusServiceUnavailable, "queue_unavailable", "queue storage unavailable: "+err.Error())
		}
		pos.Set(q, st.LastEvent)
	}
	listeners := make([]*queue.EventListener, 0, len(queues))
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, q := range queues {
		l, err := d.deps.Hub.Listen(q)
		if err != nil {
			closeAll()
			return httpserver.Error(fiber.StatusServiceUnavailable, "queue_unavailable", "queue events unavailable: "+err.Error())
		}
		listeners = append(listeners, l)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	keepAlive := d.KeepAlive
	store := d.deps.Store
	// The stream moves its own write deadline on at each write, so that
	// http.write_timeout does not cut it.
	extend := httpserver.StreamDeadline(c, keepAlive+10*time.Second)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer closeAll()
		events, ended, done := merge(listeners)
		defer close(done)
		// Events are sent in batches: one message per flush, whose data is
		// the JSON array of the events and whose id the position after the
		// last of them, so the position is encoded once per batch.
		var batch []queue.Event
		add := func(ev queue.Event) {
			pos.Set(ev.Queue, ev.ID)
			batch = append(batch, ev)
		}
		var buf []byte
		send := func() error {
			if len(batch) == 0 {
				return nil
			}
			buf = append(buf[:0], "id: "...)
			buf = append(buf, pos.Encode()...)
			buf = append(buf, "\ndata: ["...)
			for i, ev := range batch {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = appendEvent(buf, ev)
			}
			buf = append(buf, "]\n\n"...)
			batch = batch[:0]
			_, err := w.Write(buf)
			return err
		}
		flush := func() error {
			if err := send(); err != nil {
				return err
			}
			extend()
			return w.Flush()
		}
		if _, err := w.WriteString("retry: 1000\n: connected\n\n"); err != nil || flush() != nil {
			return
		}
		seen := map[string]map[string]bool{}
		for _, q := range queues {
			if !resume.Has(q) {
				continue
			}
			seen[q] = map[string]bool{}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := queue.Replay(ctx, store, q, resume.Get(q), func(ev queue.Event) error {
				seen[q][ev.ID] = true
				add(ev)
				if len(batch) >= maxBatch {
					return send()
				}
				return nil
			})
			cancel()
			if err != nil || flush() != nil {
				return
			}
		}
		live := func(ev queue.Event) {
			if s := seen[ev.Queue]; s != nil {
				if s[ev.ID] {
					return // already sent by the replay
				}
				delete(seen, ev.Queue)
			}
			add(ev)
		}
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		// A batch is sent flushDelay after its first event: a busy queue's
		// events go out in a few writes a second, not one write (and
		// syscall) each.
		flushT := time.NewTimer(time.Hour)
		flushT.Stop()
		pending := false
		for {
			select {
			case ev := <-events:
				live(ev)
				for len(events) > 0 && len(batch) < maxBatch {
					live(<-events)
				}
				if len(batch) >= maxBatch {
					if send() != nil {
						return
					}
				}
				if !pending {
					pending = true
					flushT.Reset(flushDelay)
				}
			case <-flushT.C:
				pending = false
				if flush() != nil {
					return
				}
			case <-ended:
				// A listener was dropped (too slow) or the hub closed: end
				// the stream; the client resumes from its last id.
				_ = flush()
				return
			case <-t.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || flush() != nil {
					return
				}
			}
		}
	})
	return nil
}

// merge forwards every listener's events, each queue in its order, to one
// buffered channel. ended is closed as soon as any listener's channel
// closes; closing done stops the forwarding.
func merge(ls []*queue.EventListener) (<-chan queue.Event, <-chan struct{}, chan<- struct{}) {
	out := make(chan queue.Event, 1024)
	done := make(chan struct{})
	ended := make(chan struct{})
	var once sync.Once
	for _, l := range ls {
		go func() {
			for {
				select {
				case ev, ok := <-l.C:
					if !ok {
						once.Do(func() { close(ended) })
						return
					}
					select {
					case out <- ev:
					case <-done:
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	return out, ended, done
}

// appendEvent appends ev as json.Marshal encodes it, without reflection:
// the stream's cost per event at a busy queue's rate.
func appendEvent(b []byte, ev queue.Event) []byte {
	b = append(b, `{"jobId":`...)
	b = appendString(b, ev.JobID)
	b = append(b, `,"queue":`...)
	b = appendString(b, ev.Queue)
	b = append(b, `,"name":`...)
	b = appendString(b, ev.Name)
	b = append(b, `,"state":`...)
	b = appendString(b, string(ev.State))
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(ev.Attempts), 10)
	if ev.Progress != nil {
		b = append(b, `,"progress":`...)
		b = strconv.AppendInt(b, int64(*ev.Progress), 10)
	}
	if ev.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, ev.Error)
	}
	b = append(b, `,"at":"`...)
	b = ev.At.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendString appends s as a JSON string the way json.Marshal does: as
// is when it holds only printable ASCII that needs no escape, else
// through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
