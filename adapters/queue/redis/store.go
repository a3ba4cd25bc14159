package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
)

// Stats reads the counts in one pipeline.
func (b *Backend) Stats(ctx context.Context, q string) (queue.Stats, error) {
	k, err := b.k(q)
	if err != nil {
		return queue.Stats{}, err
	}
	p := b.client.Pipeline()
	last := p.XRevRangeN(ctx, k.events, "+", "-", 1) // before the counts: see queue.Stats.LastEvent
	var lens [3]*goredis.IntCmd
	for i, l := range k.waiting {
		lens[i] = p.LLen(ctx, l)
	}
	active := p.ZCard(ctx, k.active)
	delayed := p.ZCard(ctx, k.delayed)
	counts := p.HMGet(ctx, k.stats, "completed", "failed")
	paused := p.Exists(ctx, k.paused)
	if _, err := p.Exec(ctx); err != nil {
		return queue.Stats{}, err
	}
	st := queue.Stats{Name: q, Active: active.Val(), Delayed: delayed.Val(), Paused: paused.Val() == 1, LastEvent: "0-0"}
	if msgs := last.Val(); len(msgs) > 0 {
		st.LastEvent = msgs[0].ID
	}
	for _, l := range lens {
		st.Waiting += l.Val()
	}
	vals := counts.Val()
	st.Completed, st.Failed = toInt(vals[0]), toInt(vals[1])
	return st, nil
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// Job returns one job with its logs.
func (b *Backend) Job(ctx context.Context, q, id string) (*queue.Job, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	p := b.client.Pipeline()
	rec := p.HGet(ctx, k.jobs, id)
	logs := p.LRange(ctx, k.base+"logs:"+id, 0, -1)
	_, _ = p.Exec(ctx)
	data, err := rec.Result()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	if err != nil {
		return nil, err
	}
	j := b.decodeListed(q, id, data)
	for _, l := range logs.Val() {
		var line struct {
			At      int64  `json:"at"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(l), &line) == nil {
			j.Logs = append(j.Logs, queue.LogLine{At: fromMs(line.At), Message: line.Message})
		}
	}
	return j, nil
}

// decodeListed decodes a record for the admin side; an unreadable one
// shows as a failed job with the raw text as payload.
func (b *Backend) decodeListed(q, id, data string) *queue.Job {
	j, err := decodeRecord(q, id, []byte(data))
	if err == nil {
		return j
	}
	raw, _ := json.Marshal(data)
	return &queue.Job{ID: id, Queue: q, Name: "(undecodable)", State: queue.StateFailed, Payload: raw,
		Error: queue.ErrUndecodable.Error() + ": " + err.Error(), Attempt: 1, MaxAttempts: 1}
}

// Jobs lists a state newest first. Waiting jobs come from the streams
// (cursor: the last stream entry id); the other states from their sorted
// sets (cursor: "<score>:<id>" of the last job examined).
func (b *Backend) Jobs(ctx context.Context, q string, query queue.JobQuery) (queue.JobPage, error) {
	k, err := b.k(q)
	if err != nil {
		return queue.JobPage{}, err
	}
	if key := k.finishedKey(query.State); key != "" && query.Search != "" {
		return b.searchFinished(ctx, q, k, key, query)
	}
	m := queue.NewMatcher(query.Search)
	search := query.Search != ""
	var page queue.JobPage
	cursor := query.Cursor
	chunk := query.Limit
	if search {
		chunk = 500
	}
	for len(page.Jobs) < query.Limit {
		if search && (query.Budget > 0 && page.Scanned >= query.Budget ||
			page.Scanned > 0 && !query.Until.IsZero() && time.Now().After(query.Until)) {
			page.Partial = true
			break
		}
		var ids, cursors []string
		var more bool
		switch query.State {
		case queue.StateWaiting:
			ids, cursors, more, err = b.waitingIDs(ctx, k, cursor, chunk)
		case queue.StateActive:
			ids, cursors, more, err = b.activeIDs(ctx, k, cursor, chunk)
		case queue.StateDelayed:
			ids, cursors, more, err = b.indexIDs(ctx, k.delayed, cursor, chunk)
		default:
			ids, cursors, more, err = b.finishedIDs(ctx, k.finishedKey(query.State), cursor, chunk)
		}
		if err != nil {
			return page, err
		}
		if len(ids) == 0 {
			page.Next = ""
			return page, nil
		}
		recs, err := b.client.HMGet(ctx, k.jobs, ids...).Result()
		if err != nil {
			return page, err
		}
		for i, r := range recs {
			cursor = cursors[i]
			data, ok := r.(string)
			if !ok {
				continue // gone meanwhile
			}
			if search {
				page.Scanned++
				// The raw record first (cheap), then the decoded fields:
				// the record also holds field names and numbers.
				if !m.String(data) && !m.String(ids[i]) {
					continue
				}
				j := b.decodeListed(q, ids[i], data)
				if !m.Job(j) {
					continue
				}
				page.Jobs = append(page.Jobs, j)
			} else {
				j := b.decodeListed(q, ids[i], data)
				if j.State != query.State {
					continue // moved on between the index read and the record read
				}
				page.Jobs = append(page.Jobs, j)
			}
			if len(page.Jobs) == query.Limit {
				more = more || i < len(recs)-1
				break
			}
			if search && query.Budget > 0 && page.Scanned >= query.Budget {
				more = more || i < len(recs)-1
				break
			}
		}
		page.Next = ""
		if !more {
			return page, nil
		}
		page.Next = cursor
	}
	return page, nil
}

// indexIDs reads up to n ids of a state's sorted set after cursor, newest
// first, with each one's cursor and whether more follow.
func (b *Backend) indexIDs(ctx context.Context, key, cursor string, n int) ([]string, []string, bool, error) {
	max := "+inf"
	var skipScore float64
	var skipID string
	if cursor != "" {
		s, id, ok := strings.Cut(cursor, ":")
		f, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil {
			return nil, nil, false, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, cursor)
		}
		max, skipScore, skipID = s, f, id
	}
	var ids, cursors []string
	offset := int64(0)
	for {
		// One more than needed, to know whether more follow.
		want := int64(n + 1 - len(ids))
		zs, err := b.client.ZRangeArgsWithScores(ctx, goredis.ZRangeArgs{Key: key, Start: max, Stop: "-inf",
			ByScore: true, Rev: true, Offset: offset, Count: want}).Result()
		if err != nil {
			return nil, nil, false, err
		}
		for _, z := range zs {
			id := z.Member.(string)
			// Members of one score come in reverse lexical order: skip the
			// cursor's score down to and including its id.
			if cursor != "" && z.Score == skipScore && id >= skipID {
				continue
			}
			if len(ids) == n {
				return ids, cursors, true, nil
			}
			ids = append(ids, id)
			cursors = append(cursors, strconv.FormatFloat(z.Score, 'f', -1, 64)+":"+id)
		}
		if int64(len(zs)) < want {
			return ids, cursors, false, nil
		}
		offset += int64(len(zs))
	}
}

// activeIDs lists the active jobs, the latest lease first; the cursor is
// an offset ("@<n>"): the set is small (workers × concurrency) and changes
// fast, so a page may repeat or skip a job that moved meanwhile.
func (b *Backend) activeIDs(ctx context.Context, k keys, cursor string, n int) ([]string, []string, bool, error) {
	offset := 0
	if cursor != "" {
		o, err := strconv.Atoi(strings.TrimPrefix(cursor, "@"))
		if !strings.HasPrefix(cursor, "@") || err != nil || o < 0 {
			return nil, nil, false, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, cursor)
		}
		offset = o
	}
	els, err := b.client.ZRevRange(ctx, k.active, int64(offset), int64(offset+n)).Result()
	if err != nil {
		return nil, nil, false, err
	}
	more := len(els) > n
	if more {
		els = els[:n]
	}
	var ids, cursors []string
	for i, el := range els {
		if _, id, ok := strings.Cut(el, ":"); ok {
			ids = append(ids, id)
			cursors = append(cursors, "@"+strconv.Itoa(offset+i+1))
		}
	}
	return ids, cursors, more, nil
}

// waitingIDs merges the three waiting lists newest first, by token (one
// counter per queue, so tokens order jobs across priorities). The cursor
// is the last token returned. A deep page scans the lists from their head.
func (b *Backend) waitingIDs(ctx context.Context, k keys, cursor string, n int) ([]string, []string, bool, error) {
	before := uint64(math.MaxUint64)
	if cursor != "" {
		c, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, cursor)
		}
		before = c
	}
	type ent struct {
		token uint64
		id    string
	}
	var all []ent
	more := false
	const chunk = 500
	for _, l := range k.waiting {
		got := 0
		for start := int64(0); got <= n; start += chunk {
			els, err := b.client.LRange(ctx, l, start, start+chunk-1).Result()
			if err != nil {
				return nil, nil, false, err
			}
			for _, el := range els {
				ts, id, ok := strings.Cut(el, ":")
				t, err := strconv.ParseUint(ts, 10, 64)
				if !ok || err != nil || t >= before {
					continue
				}
				all = append(all, ent{token: t, id: id})
				got++
			}
			if len(els) < chunk {
				break
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].token > all[j].token })
	if len(all) > n {
		all, more = all[:n], true
	}
	ids := make([]string, len(all))
	cursors := make([]string, len(all))
	for i, e := range all {
		ids[i], cursors[i] = e.id, strconv.FormatUint(e.token, 10)
	}
	return ids, cursors, more, nil
}

// finishedIDs reads a finished list ("<ms>|<id>", newest first) after the
// cursor element.
func (b *Backend) finishedIDs(ctx context.Context, key, cursor string, n int) ([]string, []string, bool, error) {
	start := int64(0)
	if cursor != "" {
		ms, _, ok := strings.Cut(cursor, "|")
		if _, err := strconv.ParseInt(ms, 10, 64); !ok || err != nil {
			return nil, nil, false, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, cursor)
		}
		pos, err := b.client.LPos(ctx, key, cursor, goredis.LPosArgs{}).Result()
		switch {
		case err == nil:
			start = pos + 1
		case errors.Is(err, goredis.Nil):
			// The cursor's job left the list meanwhile: start after where
			// it would be (the list is ordered newest first).
			start, err = b.finishedAfter(ctx, key, cursor)
			if err != nil {
				return nil, nil, false, err
			}
		default:
			return nil, nil, false, err
		}
	}
	els, err := b.client.LRange(ctx, key, start, start+int64(n)).Result()
	if err != nil {
		return nil, nil, false, err
	}
	more := len(els) > n
	if more {
		els = els[:n]
	}
	var ids, cursors []string
	for _, el := range els {
		if _, id, ok := strings.Cut(el, "|"); ok {
			ids = append(ids, id)
			cursors = append(cursors, el)
		}
	}
	return ids, cursors, more, nil
}

// finishedAfter finds the first index whose element is older than cursor.
func (b *Backend) finishedAfter(ctx context.Context, key, cursor string) (int64, error) {
	cms, cid, _ := strings.Cut(cursor, "|")
	c, _ := strconv.ParseInt(cms, 10, 64)
	for start := int64(0); ; start += 500 {
		els, err := b.client.LRange(ctx, key, start, start+499).Result()
		if err != nil || len(els) == 0 {
			return start, err
		}
		for i, el := range els {
			ms, id, _ := strings.Cut(el, "|")
			m, _ := strconv.ParseInt(ms, 10, 64)
			if m < c || (m == c && id < cid) {
				return start + int64(i), nil
			}
		}
	}
}

// Act applies an admin action to one job, or to the jobs of a finished
// state (actAll).
func (b *Backend) Act(ctx context.Context, q string, t queue.Target, a queue.Action) (int, error) {
	k, err := b.k(q)
	if err != nil {
		return 0, err
	}
	if t.ID == "" {
		return b.actAll(ctx, k, a, t.State, t.Before)
	}
	res, err := actScript.Run(ctx, b.client, k.all, k.base, msArg(b.now()), b.qcfg.Events.MaxLen,
		b.qcfg.Retention.Completed, string(a), t.ID).Slice()
	if err != nil {
		return 0, err
	}
	if err := actError(q, t.ID, a, res[0], res[1]); err != nil {
		return 0, err
	}
	return 1, nil
}

func actError(q, id string, a queue.Action, code, state any) error {
	switch c, _ := code.(int64); c {
	case 1:
		return fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	case 2:
		return fmt.Errorf("%w: cannot %s a %v job", queue.ErrJobState, a, state)
	case 4:
		return queue.ErrUndecodable
	}
	return nil
}

// actAll applies a to the jobs of a finished state finished before
// `before` (zero: all), oldest first, 500 per script call, each job at
// most once: a job retried by one pass that fails again before the next
// pass reads the list is back in it, and taking it again would retry a
// fast-failing job over and over (seen in the suite: retry-failed of one
// job answered 2).
func (b *Backend) actAll(ctx context.Context, k keys, a queue.Action, state queue.State, before time.Time) (int, error) {
	key := k.finishedKey(state)
	if key == "" {
		return 0, fmt.Errorf("%w: %s of every %s job", queue.ErrBadQuery, a, state)
	}
	cut := int64(math.MaxInt64)
	if !before.IsZero() {
		cut = before.UnixMilli()
	}
	total := 0
	seen := map[string]bool{}
	for {
		els, err := b.client.LRange(ctx, key, -500, -1).Result()
		if err != nil || len(els) == 0 {
			return total, err
		}
		args := []any{k.base, msArg(b.now()), b.qcfg.Events.MaxLen, b.qcfg.Retention.Completed, string(a)}
		for i := len(els) - 1; i >= 0; i-- { // oldest first
			ms, id, _ := strings.Cut(els[i], "|")
			if m, _ := strconv.ParseInt(ms, 10, 64); m >= cut || seen[id] {
				break
			}
			seen[id] = true
			args = append(args, id)
		}
		if len(args) == 5 {
			return total, nil
		}
		res, err := actScript.Run(ctx, b.client, k.all, args...).Slice()
		if err != nil {
			return total, err
		}
		done := 0
		for i := 0; i < len(res); i += 2 {
			if c, _ := res[i].(int64); c == 0 {
				done++
			}
		}
		total += done
		if done == 0 || len(args)-5 < len(els) {
			return total, nil // what is left is newer, or cannot take the action
		}
	}
}

// SetPaused sets or clears the queue's paused flag.
func (b *Backend) SetPaused(ctx context.Context, q string, paused bool) error {
	k, err := b.k(q)
	if err != nil {
		return err
	}
	if paused {
		return b.client.Set(ctx, k.paused, "1", 0).Err()
	}
	return b.client.Del(ctx, k.paused).Err()
}

// Events reads the queue's event stream after `after`.
func (b *Backend) Events(ctx context.Context, q, after string, max int, block time.Duration) ([]queue.Event, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	if after == "" {
		after = "0-0"
	} else if !strings.Contains(after, "-") {
		return nil, fmt.Errorf("%w: event id %q", queue.ErrBadQuery, after)
	}
	var msgs []goredis.XMessage
	if block > 0 {
		res, err := b.client.XRead(ctx, &goredis.XReadArgs{Streams: []string{k.events, after}, Count: int64(max), Block: block}).Result()
		if errors.Is(err, goredis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		msgs = res[0].Messages
	} else {
		msgs, err = b.client.XRangeN(ctx, k.events, "("+after, "+", int64(max)).Result()
		if err != nil {
			return nil, err
		}
	}
	out := make([]queue.Event, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, decodeEvent(q, m))
	}
	return out, nil
}

func decodeEvent(q string, m goredis.XMessage) queue.Event {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	ev := queue.Event{ID: m.ID, Queue: q, JobID: str("j"), State: queue.State(str("s"))}
	ev.Attempts, _ = strconv.Atoi(str("a"))
	if n := str("n"); n != "" {
		var name string
		if json.Unmarshal([]byte(`"`+n+`"`), &name) == nil {
			ev.Name = name
		} else {
			ev.Name = n
		}
	}
	if e := str("e"); e != "" {
		var msg string
		if json.Unmarshal([]byte(e), &msg) == nil {
			ev.Error = msg
		} else {
			ev.Error = e
		}
	}
	if p := str("p"); p != "" {
		n, _ := strconv.Atoi(p)
		ev.Progress = &n
	}
	t, _ := strconv.ParseInt(str("t"), 10, 64)
	ev.At = fromMs(t)
	return ev
}

// Minutes returns the per-minute counts since `since`, oldest first.
func (b *Backend) Minutes(ctx context.Context, q string, since time.Time) ([]queue.Minute, error) {
	k, err := b.k(q)
	if err != nil {
		return nil, err
	}
	all, err := b.client.HGetAll(ctx, k.mins).Result()
	if err != nil {
		return nil, err
	}
	from := since.Unix() / 60
	byMin := map[int64]*queue.Minute{}
	for f, v := range all {
		ms, kind, ok := strings.Cut(f, ":")
		m, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil || m < from {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		x, ok := byMin[m]
		if !ok {
			x = &queue.Minute{At: time.Unix(m*60, 0).UTC()}
			byMin[m] = x
		}
		if kind == "c" {
			x.Completed += n
		} else {
			x.Failed += n
		}
	}
	out := make([]queue.Minute, 0, len(byMin))
	for _, m := range byMin {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
