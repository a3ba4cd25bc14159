package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
)

// searchChunk is how many jobs a search of a finished state reads per
// LRANGE + HMGET.
const searchChunk = 2000

// searchFinished searches a finished state's list ("<ms>|<id>", newest
// first) in chunks: the list's elements by index, then their records in
// one HMGET, matched as raw text without decoding (a hit is confirmed on
// the decoded fields: the raw record also holds field names). The chunks
// are read one ahead of the matching, so Redis serves the next while this
// one is matched. The cursor is the last element examined.
func (b *Backend) searchFinished(ctx context.Context, q string, k keys, key string, query queue.JobQuery) (queue.JobPage, error) {
	m := queue.NewMatcher(query.Search)
	var page queue.JobPage
	last := query.Cursor
	var start int64 // index of the first element not examined
	if last != "" {
		ms, _, ok := strings.Cut(last, "|")
		if _, err := strconv.ParseInt(ms, 10, 64); !ok || err != nil {
			return page, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, last)
		}
		var err error
		if start, err = b.locateFinished(ctx, key, last); err != nil {
			return page, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // an answer before the list's end stops the reader
	chunks := make(chan finishedChunk, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(chunks)
		errc <- b.readFinished(ctx, k, key, start, last, chunks)
	}()
	for c := range chunks {
		for i, r := range c.recs {
			if query.Budget > 0 && page.Scanned >= query.Budget {
				page.Partial, page.Next = true, last
				return page, nil
			}
			last = c.els[i]
			data, ok := r.(string)
			if !ok {
				continue // gone meanwhile
			}
			page.Scanned++
			if !m.String(data) && !m.String(c.ids[i]) {
				continue
			}
			j := b.decodeListed(q, c.ids[i], data)
			if !m.Job(j) {
				continue
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) == query.Limit {
				if !c.end || i < len(c.recs)-1 {
					page.Next = last
				}
				return page, nil
			}
		}
		if !c.end && !query.Until.IsZero() && time.Now().After(query.Until) {
			page.Partial, page.Next = true, last
			return page, nil
		}
	}
	return page, <-errc
}

// finishedChunk is a run of a finished list's elements, their IDs and
// records (nil when gone); end marks the list's last run.
type finishedChunk struct {
	els, ids []string
	recs     []any
	end      bool
}

// readFinished sends the finished list's chunks from index start on, until
// its end or ctx is done. last is the element before start ("" at the
// head): each chunk also reads the element before it, to notice that the
// list moved meanwhile (jobs finished or were removed) and find its place
// again, so a moving list costs no job and few repeats.
func (b *Backend) readFinished(ctx context.Context, k keys, key string, start int64, last string, out chan<- finishedChunk) error {
	check := false // whether last is expected just before start
	for {
		from := start
		if check && from > 0 {
			from--
		}
		els, err := b.client.LRange(ctx, key, from, from+searchChunk).Result()
		if err != nil {
			return err
		}
		end := len(els) < searchChunk+1
		if from < start {
			i := slices.Index(els, last)
			if i < 0 {
				if start, err = b.locateFinished(ctx, key, last); err != nil {
					return err
				}
				check = false
				continue
			}
			els = els[i+1:]
			start = from + int64(i) + 1
		}
		if len(els) == 0 {
			return nil
		}
		c := finishedChunk{els: els, ids: make([]string, len(els)), end: end}
		for i, el := range els {
			_, c.ids[i], _ = strings.Cut(el, "|")
		}
		if c.recs, err = b.client.HMGet(ctx, k.jobs, c.ids...).Result(); err != nil {
			return err
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return nil
		}
		if end {
			return nil
		}
		start += int64(len(els))
		last, check = els[len(els)-1], true
	}
}

// locateFinished is the index after the element el of a finished list:
// where it is, or where it would be when it left the list.
func (b *Backend) locateFinished(ctx context.Context, key, el string) (int64, error) {
	pos, err := b.client.LPos(ctx, key, el, goredis.LPosArgs{}).Result()
	switch {
	case err == nil:
		return pos + 1, nil
	case errors.Is(err, goredis.Nil):
		return b.finishedAfter(ctx, key, el)
	}
	return 0, err
}
