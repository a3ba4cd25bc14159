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
// the decoded fields: the raw record also holds field names). The cursor
// is the last element examined. Each chunk re-reads the element before it
// to notice that the list moved meanwhile (jobs finished or removed) and
// find its place again, so a moving list costs no job and few repeats.
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
	for {
		from := start
		if last != "" && from > 0 {
			from-- // the last element examined, expected first
		}
		els, err := b.client.LRange(ctx, key, from, from+searchChunk).Result()
		if err != nil {
			return page, err
		}
		end := len(els) < searchChunk+1
		if from < start {
			i := slices.Index(els, last)
			if i < 0 {
				if start, err = b.locateFinished(ctx, key, last); err != nil {
					return page, err
				}
				continue
			}
			els = els[i+1:]
			start = from + int64(i) + 1
		}
		if len(els) == 0 {
			return page, nil
		}
		ids := make([]string, len(els))
		for i, el := range els {
			_, ids[i], _ = strings.Cut(el, "|")
		}
		recs, err := b.client.HMGet(ctx, k.jobs, ids...).Result()
		if err != nil {
			return page, err
		}
		for i, r := range recs {
			if query.Budget > 0 && page.Scanned >= query.Budget {
				page.Partial, page.Next = true, last
				return page, nil
			}
			last = els[i]
			start++
			data, ok := r.(string)
			if !ok {
				continue // gone meanwhile
			}
			page.Scanned++
			if !m.String(data) && !m.String(ids[i]) {
				continue
			}
			j := b.decodeListed(q, ids[i], data)
			if !m.Job(j) {
				continue
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) == query.Limit {
				if !end || i < len(recs)-1 {
					page.Next = last
				}
				return page, nil
			}
		}
		if end {
			return page, nil
		}
		if !query.Until.IsZero() && time.Now().After(query.Until) {
			page.Partial, page.Next = true, last
			return page, nil
		}
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
