package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// searchChunk is how many jobs one search statement examines.
const searchChunk = 20000

// searchJobs runs a search in the database: each statement walks up to
// searchChunk jobs of the listing (cond, ordered by key) after the cursor
// (at, after) and matches them there (strpos over lower(); no index: a
// trigram index would tax every enqueue and settle for the admin's sake),
// returning only the hits and the last job it examined, which the next
// statement, or the next request, continues from.
func (b *Backend) searchJobs(ctx context.Context, q string, query queue.JobQuery, cond, key string, at time.Time, after string) (queue.JobPage, error) {
	var page queue.JobPage
	word := queue.NewMatcher(query.Search).Word()
	for {
		chunk := searchChunk
		if query.Budget > 0 {
			chunk = min(chunk, query.Budget-page.Scanned)
		}
		now := b.now()
		rows, err := b.db.QueryContext(ctx, `WITH scan AS (
			SELECT `+key+` AS k, id, (strpos(lower(id), $5) > 0 OR strpos(lower(name), $5) > 0
				OR strpos(lower(payload), $5) > 0 OR strpos(lower(error), $5) > 0) AS hit
			FROM tipbox_queue.jobs WHERE queue = $1 AND `+cond+` AND (`+key+`, id) < ($3, $4)
			ORDER BY `+key+` DESC, id DESC LIMIT $6
		), marked AS (
			SELECT k, id, hit, row_number() OVER (ORDER BY k DESC, id DESC) AS rn, count(*) OVER () AS n FROM scan
		)
		SELECT m.rn, m.n, m.k, m.id, `+jobColsJ+` FROM marked m
			LEFT JOIN tipbox_queue.jobs j ON m.hit AND j.queue = $1 AND j.id = m.id
		WHERE m.hit OR m.rn = m.n ORDER BY m.rn LIMIT $7`, q, now, at, after, word, chunk, query.Limit+1)
		if err != nil {
			return page, err
		}
		var n int64
		done := false
		for rows.Next() {
			var rn int64
			var k time.Time
			var id string
			j, err := scanJob(rows, now, &rn, &n, &k, &id)
			if err != nil {
				rows.Close()
				return page, err
			}
			at, after = k, id
			if j == nil {
				continue // the last job examined, not a hit
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) == query.Limit {
				page.Scanned += int(rn)
				if rn < n || n == int64(chunk) {
					page.Next = strconv.FormatInt(k.UnixNano(), 10) + "_" + id
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
