package memory

import (
	"container/heap"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// qstate is one queue; every method runs with Backend.mu held.
//
// The FIFOs, the delay heap and the finished lists hold entries that may
// have gone stale (a waiting job cancelled, a delayed one promoted, a
// failed one retried): an entry is current only while its sequence number
// is the one recorded for the job, and stale entries are skipped.
type qstate struct {
	name string
	cfg  queue.Config

	jobs     map[string]*queue.Job
	count    map[queue.State]int64
	seq      uint64            // entry sequence
	cur      map[string]uint64 // job id → its current entry's sequence
	waiting  [3][]entry        // FIFO per priority, head at index 0
	delayed  entryHeap
	finished map[queue.State][]entry // oldest first
	active   map[string]*lease

	completed, failed int64 // totals
	deliveries        uint64
	paused            bool
	limit             queue.Limit // Max 0: none
	tat               time.Time   // the limit's next start slot (see queue.Limit)
	heldUntil         time.Time   // RateLimited: no claim before
	schedules         map[string]*queue.Schedule

	// Groups: each group's FIFO, and the ring of members served
	// round-robin at normal priority: groups with waiting jobs, plus
	// normalMember for the ungrouped normal jobs while the ring is in use.
	// A member that joins goes ahead of those that were in the ring,
	// behind the fresh ones before it: ring[:fresh] have not had a turn.
	groups     map[string]*group
	ring       []string
	fresh      int
	inRing     map[string]bool
	groupLimit queue.Limit
	groupConc  int
	dedup      map[string]time.Time
	logs       map[string][]queue.LogLine
	minutes    map[int64]*[2]int64

	events     []queue.Event // ring of the newest cfg.Events.MaxLen
	eventSeq   uint64        // ID of the newest event
	eventsWake chan struct{} // closed and replaced on every event
	waiters    chan struct{} // closed and replaced when a job becomes waiting
}

// normalMember stands for the ungrouped normal-priority jobs in the ring.
const normalMember = "\x00normal"

type group struct {
	waiting   []entry
	active    int
	heldUntil time.Time
	tat       time.Time
}

type entry struct {
	job *queue.Job
	at  time.Time
	seq uint64
}

type lease struct {
	job    *queue.Job
	owner  string
	seen   time.Time
	cancel bool
}

func newQState(name string, cfg queue.Config) *qstate {
	return &qstate{name: name, cfg: cfg, jobs: map[string]*queue.Job{}, count: map[queue.State]int64{},
		cur: map[string]uint64{}, finished: map[queue.State][]entry{}, active: map[string]*lease{},
		dedup: map[string]time.Time{}, logs: map[string][]queue.LogLine{}, minutes: map[int64]*[2]int64{},
		eventsWake: make(chan struct{}), waiters: make(chan struct{}),
		schedules: map[string]*queue.Schedule{}, groups: map[string]*group{}, inRing: map[string]bool{},
		groupLimit: cfg.GroupLimits(), groupConc: cfg.GroupConcurrency}
}

func (s *qstate) remember(id string, now time.Time) {
	if len(s.dedup) >= 1024 && len(s.dedup)%1024 == 0 {
		for k, until := range s.dedup {
			if !now.Before(until) {
				delete(s.dedup, k)
			}
		}
	}
	s.dedup[id] = now.Add(DedupWindow)
}

func (s *qstate) mark(j *queue.Job, at time.Time) entry {
	s.seq++
	s.cur[j.ID] = s.seq
	return entry{job: j, at: at, seq: s.seq}
}

func (s *qstate) current(e entry) bool {
	return s.cur[e.job.ID] == e.seq && s.jobs[e.job.ID] == e.job
}

// leave takes j out of its state's count and index (entries go stale).
func (s *qstate) leave(j *queue.Job) {
	s.count[j.State]--
	delete(s.cur, j.ID)
	if j.State == queue.StateActive {
		delete(s.active, j.ID)
	}
}

// push makes j waiting at the tail of its priority, or of its group.
func (s *qstate) push(j *queue.Job) {
	j.State = queue.StateWaiting
	s.count[queue.StateWaiting]++
	e := s.mark(j, j.RunAt)
	switch {
	case j.Group != "":
		g := s.groups[j.Group]
		if g == nil {
			g = &group{}
			s.groups[j.Group] = g
		}
		g.waiting = append(g.waiting, e)
		s.join(j.Group)
		if len(s.waiting[1]) > 0 {
			s.join(normalMember)
		}
	default:
		i := j.Priority.Index()
		s.waiting[i] = append(s.waiting[i], e)
		if i == 1 && len(s.ring) > 0 {
			s.join(normalMember)
		}
	}
	close(s.waiters)
	s.waiters = make(chan struct{})
}

// join adds a member to the ring, to be served before every member that
// has had a turn (they were all served more recently than it), after the
// members that joined before it and have not had theirs.
func (s *qstate) join(member string) {
	if !s.inRing[member] {
		s.inRing[member] = true
		s.ring = slices.Insert(s.ring, s.fresh, member)
		s.fresh++
	}
}

// popFIFO takes the first current waiting entry of a FIFO.
func (s *qstate) popFIFO(l *[]entry) *queue.Job {
	for len(*l) > 0 {
		e := (*l)[0]
		(*l)[0] = entry{}
		*l = (*l)[1:]
		if len(*l) == 0 {
			*l = nil
		}
		if s.current(e) && e.job.State == queue.StateWaiting {
			delete(s.cur, e.job.ID)
			return e.job
		}
	}
	return nil
}

// pop takes the next waiting job: high first; then, round-robin, the
// ungrouped normal jobs and each group within its limits; then low. It
// returns when the next job is blocked only by a group's limit (the
// earliest such group's next start), for the caller to come back.
func (s *qstate) pop(now time.Time) (*queue.Job, time.Time) {
	if j := s.popFIFO(&s.waiting[0]); j != nil {
		return j, time.Time{}
	}
	var blocked time.Time
	for tries := len(s.ring); tries > 0 && len(s.ring) > 0; tries-- {
		m := s.ring[0]
		s.ring = append(s.ring[1:], m) // rotate: m goes last
		s.fresh = max(s.fresh-1, 0)
		if m == normalMember {
			if j := s.popFIFO(&s.waiting[1]); j != nil {
				return j, time.Time{}
			}
			s.leave2(m)
			continue
		}
		g := s.groups[m]
		if len(g.waiting) == 0 {
			s.leave2(m)
			continue
		}
		if until, ok := s.groupBlocked(g, now); !ok {
			if !until.IsZero() && (blocked.IsZero() || until.Before(blocked)) {
				blocked = until
			}
			continue
		}
		if j := s.popFIFO(&g.waiting); j != nil {
			g.active++
			s.take(g)
			return j, time.Time{}
		}
		s.leave2(m)
	}
	if len(s.ring) == 0 {
		if j := s.popFIFO(&s.waiting[1]); j != nil {
			return j, time.Time{}
		}
	}
	if j := s.popFIFO(&s.waiting[2]); j != nil {
		return j, time.Time{}
	}
	return nil, blocked
}

// ready reports whether pop could take a job now. Under the same lock as
// taking s.waiters it makes Wait miss no wake-up: a settlement that freed a
// group's slot before Wait began is seen here. A stale entry can make it
// true for nothing (a spurious wake-up; the claim that follows drops it).
func (s *qstate) ready(now time.Time) bool {
	if len(s.waiting[0]) > 0 || len(s.waiting[2]) > 0 || (len(s.ring) == 0 && len(s.waiting[1]) > 0) {
		return true
	}
	for _, m := range s.ring {
		if m == normalMember {
			if len(s.waiting[1]) > 0 {
				return true
			}
			continue
		}
		if g := s.groups[m]; g != nil && len(g.waiting) > 0 {
			if _, ok := s.groupBlocked(g, now); ok {
				return true
			}
		}
	}
	return false
}

// leave2 takes a member out of the ring.
func (s *qstate) leave2(m string) {
	delete(s.inRing, m)
	for i, x := range s.ring {
		if x == m {
			s.ring = append(s.ring[:i], s.ring[i+1:]...)
			if i < s.fresh {
				s.fresh--
			}
			break
		}
	}
	if m != normalMember {
		if g := s.groups[m]; g != nil && g.active == 0 && g.heldUntil.IsZero() {
			delete(s.groups, m)
		}
	}
}

// groupBlocked reports whether g may start a job now; when it may not
// because of its held time or limit, until is when it may.
func (s *qstate) groupBlocked(g *group, now time.Time) (time.Time, bool) {
	if now.Before(g.heldUntil) {
		return g.heldUntil, false
	}
	if s.groupConc > 0 && g.active >= s.groupConc {
		return time.Time{}, false // a settlement frees it
	}
	if s.groupLimit.Max > 0 {
		_, tol := s.groupLimit.Spacing()
		if g.tat.Before(now) {
			g.tat = now
		}
		if g.tat.Sub(now) > tol {
			return g.tat.Add(-tol), false
		}
	}
	return time.Time{}, true
}

// take spends one of g's limit slots.
func (s *qstate) take(g *group) {
	if s.groupLimit.Max > 0 {
		step, _ := s.groupLimit.Spacing()
		g.tat = g.tat.Add(step)
	}
}

// release ends an active grouped job's hold on its group's concurrency.
func (s *qstate) release(j *queue.Job) {
	if j.Group == "" {
		return
	}
	if g := s.groups[j.Group]; g != nil && g.active > 0 {
		g.active--
		if len(g.waiting) > 0 {
			close(s.waiters)
			s.waiters = make(chan struct{})
		}
	}
}

func (s *qstate) delay(j *queue.Job) {
	j.State = queue.StateDelayed
	s.count[queue.StateDelayed]++
	heap.Push(&s.delayed, s.mark(j, j.RunAt))
}

// finish records j in a finished state and applies retention.
func (s *qstate) finish(b *Backend, j *queue.Job, state queue.State, now time.Time) {
	j.State, j.FinishedAt = state, now
	s.count[state]++
	s.finished[state] = append(s.finished[state], s.mark(j, now))
	keep := s.cfg.Retention.Completed
	if state == queue.StateFailed {
		keep = s.cfg.Retention.Failed
	}
	dropped := 0
	for s.count[state] > int64(keep) {
		if s.dropOldest(state) {
			dropped++
		}
	}
	if dropped > 0 && state == queue.StateFailed {
		b.dropped(s.name, dropped, "count")
	}
	s.compact(state)
}

// dropOldest deletes the oldest job of a finished state; false when the
// oldest entry was stale.
func (s *qstate) dropOldest(state queue.State) bool {
	list := s.finished[state]
	e := list[0]
	s.finished[state] = list[1:]
	if !s.current(e) || e.job.State != state {
		return false
	}
	s.delete(e.job)
	return true
}

func (s *qstate) delete(j *queue.Job) {
	s.leave(j)
	delete(s.jobs, j.ID)
	delete(s.logs, j.ID)
}

// compact drops stale entries once they are half of a finished list.
func (s *qstate) compact(state queue.State) {
	list := s.finished[state]
	if int64(len(list)) < 64 || int64(len(list)) < 2*s.count[state] {
		return
	}
	out := make([]entry, 0, s.count[state])
	for _, e := range list {
		if s.current(e) && e.job.State == state {
			out = append(out, e)
		}
	}
	s.finished[state] = out
}

// settle applies one settlement; a delivery that is no longer current is
// left alone.
func (s *qstate) settle(b *Backend, st queue.Settlement, now time.Time) {
	l, ok := s.active[st.Job.ID]
	if !ok || l.job.Delivery != st.Job.Delivery {
		return
	}
	j := l.job
	s.leave(j)
	s.release(j)
	if st.Progress != nil {
		j.Percent = *st.Progress
	}
	outcome := st.Outcome
	if l.cancel && outcome != queue.Completed {
		outcome = queue.Cancelled
	}
	switch outcome {
	case queue.Completed:
		j.Percent = 100
		s.completed++
		s.minute(now, 0)
		s.finish(b, j, queue.StateCompleted, now)
	case queue.Retry:
		j.Error, j.Attempt, j.RunAt = st.Error, j.Attempt+1, st.At
		s.delay(j)
		b.poke()
	case queue.Dead:
		j.Error = st.Error
		s.failed++
		s.minute(now, 1)
		s.finish(b, j, queue.StateFailed, now)
	case queue.Cancelled:
		if st.Error != "" {
			j.Error = st.Error
		}
		s.finish(b, j, queue.StateCancelled, now)
	case queue.Released:
		j.StartedAt, j.RunAt = time.Time{}, now
		s.push(j)
	case queue.Postponed:
		j.RunAt = st.At
		s.delay(j)
		if j.Group != "" {
			g := s.groups[j.Group]
			if g == nil {
				g = &group{}
				s.groups[j.Group] = g
			}
			if st.At.After(g.heldUntil) {
				g.heldUntil = st.At
			}
		} else if st.At.After(s.heldUntil) {
			s.heldUntil = st.At
		}
		b.poke()
	}
	s.event(j, now, nil)
}

// allowance is how many jobs the queue may start now (up to want), or
// when it may start again.
func (s *qstate) allowance(want int, now time.Time) (int, time.Time) {
	if now.Before(s.heldUntil) {
		return 0, s.heldUntil
	}
	if s.limit.Max == 0 {
		return want, time.Time{}
	}
	step, tol := s.limit.Spacing()
	if s.tat.Before(now) {
		s.tat = now
	}
	// Rounded down (not towards zero): a claim a fraction of a slot early
	// gets nothing.
	n := min(want, int(math.Floor(float64(now.Add(tol).Sub(s.tat))/float64(step)))+1)
	if n <= 0 {
		return 0, s.tat.Add(-tol)
	}
	s.tat = s.tat.Add(time.Duration(n) * step)
	return n, time.Time{}
}

func (s *qstate) minute(now time.Time, i int) {
	m := now.Unix() / 60
	c, ok := s.minutes[m]
	if !ok {
		c = new([2]int64)
		s.minutes[m] = c
	}
	c[i]++
}

// promote moves due delayed jobs to waiting and returns the next due time.
func (s *qstate) promote(now time.Time) (time.Time, bool) {
	for s.delayed.Len() > 0 {
		e := s.delayed[0]
		if !s.current(e) || e.job.State != queue.StateDelayed {
			heap.Pop(&s.delayed)
			continue
		}
		if e.at.After(now) {
			return e.at, true
		}
		heap.Pop(&s.delayed)
		s.leave(e.job)
		s.push(e.job)
		s.event(e.job, now, nil)
	}
	return time.Time{}, false
}

// reclaim takes back active jobs whose worker stopped heartbeating: back to
// waiting as the next attempt, or dead with "stalled" past max_stalled or
// max attempts.
func (s *qstate) reclaim(b *Backend, now time.Time, lease time.Duration) {
	for _, l := range s.active {
		if now.Sub(l.seen) < lease {
			continue
		}
		j := l.job
		s.leave(j)
		s.release(j)
		j.Stalls++
		switch {
		case l.cancel:
			s.finish(b, j, queue.StateCancelled, now)
		case j.Stalls > s.cfg.MaxStalled || j.Attempt >= j.MaxAttempts:
			j.Error = queue.ErrStalled.Error()
			s.failed++
			s.minute(now, 1)
			s.finish(b, j, queue.StateFailed, now)
		default:
			j.Attempt++
			j.StartedAt, j.RunAt = time.Time{}, now
			s.push(j)
		}
		s.event(j, now, nil)
	}
}

// expire drops dead letters older than retention.failed_age, and
// per-minute counts older than a day.
func (s *qstate) expire(b *Backend, now time.Time) {
	cut := now.Add(-s.cfg.Retention.FailedAge)
	dropped := 0
	for list := s.finished[queue.StateFailed]; len(list) > 0 && list[0].at.Before(cut); list = s.finished[queue.StateFailed] {
		if s.dropOldest(queue.StateFailed) {
			dropped++
		}
	}
	if dropped > 0 {
		b.dropped(s.name, dropped, "age")
	}
	old := now.Add(-24*time.Hour).Unix() / 60
	for m := range s.minutes {
		if m < old {
			delete(s.minutes, m)
		}
	}
}

// event appends a transition of j to the history.
func (s *qstate) event(j *queue.Job, now time.Time, progress *int) {
	s.eventSeq++
	ev := queue.Event{ID: strconv.FormatUint(s.eventSeq, 10), JobID: j.ID, Queue: s.name, Name: j.Name,
		State: j.State, Attempts: j.AttemptsMade(), Progress: progress, Error: j.Error, At: now}
	if j.State == queue.StateCompleted || j.State == queue.StateWaiting || j.State == queue.StateActive {
		ev.Error = ""
	}
	if len(s.events) < s.cfg.Events.MaxLen {
		s.events = append(s.events, ev)
	} else {
		s.events[(s.eventSeq-1)%uint64(s.cfg.Events.MaxLen)] = ev
	}
	close(s.eventsWake)
	s.eventsWake = make(chan struct{})
}

func (b *Backend) dropped(q string, n int, reason string) {
	b.logger.Warn("dead-lettered jobs dropped by retention", "queue", q, "count", n, "reason", reason)
	if b.obs != nil {
		b.obs.DeadDropped(q, n, reason)
	}
}

type entryHeap []entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = entry{}
	*h = old[:len(old)-1]
	return d
}
