package memory

import (
	"container/heap"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tipbox/tipbox/core/queue"
)

// promote moves due delayed jobs to their topics, sleeping until the
// earliest is due or a new one arrives.
func (b *Backend) promote() {
	defer b.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.mu.Lock()
		now := b.now()
		var due []delayed
		for len(b.delayed) > 0 && !b.delayed[0].at.After(now) {
			d := heap.Pop(&b.delayed).(delayed)
			b.queues[d.queue].delayed--
			due = append(due, d)
		}
		wait := time.Hour
		if len(b.delayed) > 0 {
			wait = b.delayed[0].at.Sub(now)
		}
		b.mu.Unlock()
		for _, d := range due {
			_ = b.pub.Publish(b.Topic(d.queue, d.prio), message.NewMessage(d.id, d.body))
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-b.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-b.done:
			return
		}
	}
}

type delayed struct {
	at    time.Time
	queue string
	id    string
	prio  queue.Priority
	body  []byte
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return d
}
