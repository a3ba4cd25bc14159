package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// searchChunk is how many jobs one search statement examines.
const searchChunk = 10000

// searchJobs runs a search in the database: each statement walks up to
// searchChunk jobs of the listing (cond, ordered by key) after the cursor
// (at, after), matches them there and returns only the hits and the last
// job it examined, which the next statement, or the next request,
// continues from. No index serves it: a trigram index would tax every
// enqueue and settle for the sake of an admin's occasional search.
func (b *Backend) searchJobs(ctx context.Context, q string, query queue.JobQuery, cond, key string, at time.Time, after string) (queue.JobPage, error) {
	var page queue.JobPage
	m := queue.NewMatcher(query.Search)
	// One lower() over the four fields joined by a separator no search
	// word holds: a call per row, not four. An ASCII word is matched with
	// ASCII-only case folding (the "C" collation's lower()), several times
	// faster than the database's locale and the same for such a word.
	text := `(id || E'\x1f' || name || E'\x1f' || payload || E'\x1f' || error)`
	if m.ASCII() {
		text += ` COLLATE "C"`
	}
	for {
		chunk := searchChunk
		if query.Budget > 0 {
			chunk = min(chunk, query.Budget-page.Scanned)
		}
		now := b.now()
		// The rows come numbered in the listing's order; only the hits
		// and the last row are returned (no join back to the table: it
		// would be planned as a scan of the whole queue).
		rows, err := b.db.QueryContext(ctx, `SELECT * FROM (
			SELECT row_number() OVER () AS rn, lead(true) OVER () IS NULL AS last, s.* FROM (
				SELECT `+key+` AS k, strpos(lower(`+text+`), $5) > 0 AS hit, j.*
				FROM tipbox_queue.jobs j WHERE queue = $1 AND `+cond+` AND (`+key+`, id) < ($3, $4)
				ORDER BY `+key+` DESC, id DESC LIMIT $6) s) t
			WHERE hit OR last ORDER BY rn LIMIT $7`, q, now, at, after, m.Word(), chunk, query.Limit+1)
		if err != nil {
			return page, err
		}
		var n int64 // rows examined, once the last is read
		done := false
		for rows.Next() {
			var rn int64
			var last, hit bool
			var k time.Time
			j, err := scanJob(rows, now, &rn, &last, &k, &hit)
			if err != nil {
				rows.Close()
				return page, err
			}
			at, after = k, j.ID
			if last {
				n = rn
			}
			if !hit {
				continue
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) == query.Limit {
				page.Scanned += int(rn)
				if !last || rn == int64(chunk) {
					page.Next = strconv.FormatInt(k.UnixNano(), 10) + "_" + j.ID
				}
				done = true
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || done {
			return page, err
		}
		page.Scanned += int(n)
		if n < int64(chunk) {
			return page, nil // the listing's end
		}
		if query.Budget > 0 && page.Scanned >= query.Budget || !query.Until.IsZero() && time.Now().After(query.Until) {
			page.Partial = true
			page.Next = strconv.FormatInt(at.UnixNano(), 10) + "_" + after
			return page, nil
		}
	}
}
