package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EnteredAt is when the job entered its state: what a listing of the
// state orders by (newest first) and what a JobQuery.Cursor names.
func (j *Job) EnteredAt() time.Time {
	switch j.State {
	case StateActive:
		return j.StartedAt
	case StateCompleted, StateFailed, StateCancelled:
		return j.FinishedAt
	}
	return j.RunAt
}

// Cursor is the JobQuery.Cursor that continues a listing after j:
// "<unix-nanos of EnteredAt>_<id>".
func (j *Job) Cursor() string {
	return strconv.FormatInt(j.EnteredAt().UnixNano(), 10) + "_" + j.ID
}

// ParseCursor reads a cursor of the form Page writes, "<unix-nanos>_<id>"
// of the last job examined: a listing continues with the jobs before it
// in (EnteredAt, ID) order.
func ParseCursor(c string) (at int64, id string, err error) {
	ts, id, ok := strings.Cut(c, "_")
	at, perr := strconv.ParseInt(ts, 10, 64)
	if !ok || perr != nil {
		return 0, "", fmt.Errorf("%w: cursor %q", ErrBadQuery, c)
	}
	return at, id, nil
}

// Page cuts the page q asks for out of candidates, the state's jobs from
// q's cursor on, newest first: up to q.Limit of them, or with q.Search
// those that match it among at most q.Budget examined (when > 0; then
// Partial). Next continues after the last job examined when candidates
// remain.
func (q JobQuery) Page(candidates []*Job) JobPage {
	var page JobPage
	m := NewMatcher(q.Search)
	i := 0
	for ; i < len(candidates) && len(page.Jobs) < q.Limit; i++ {
		if q.Search != "" {
			if q.Budget > 0 && page.Scanned >= q.Budget {
				page.Partial = true
				break
			}
			page.Scanned++
			if !m.Job(candidates[i]) {
				continue
			}
		}
		page.Jobs = append(page.Jobs, candidates[i])
	}
	if i < len(candidates) && i > 0 {
		page.Next = candidates[i-1].Cursor()
	}
	return page
}
