package queue

import (
	"bytes"
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

// Matches reports whether needle (lower case) is in the job's ID, name,
// payload or error, ignoring case: a JobQuery.Search hit.
func (j *Job) Matches(needle string) bool {
	return strings.Contains(strings.ToLower(j.ID), needle) || strings.Contains(strings.ToLower(j.Name), needle) ||
		bytes.Contains(bytes.ToLower(j.Payload), []byte(needle)) || strings.Contains(strings.ToLower(j.Error), needle)
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
	needle := strings.ToLower(q.Search)
	i := 0
	for ; i < len(candidates) && len(page.Jobs) < q.Limit; i++ {
		if needle != "" {
			if q.Budget > 0 && page.Scanned >= q.Budget {
				page.Partial = true
				break
			}
			page.Scanned++
			if !candidates[i].Matches(needle) {
				continue
			}
		}
		page.Jobs = append(page.Jobs, candidates[i])
	}
	if i < len(candidates) && i > 0 {
		last := candidates[i-1]
		page.Next = strconv.FormatInt(last.EnteredAt().UnixNano(), 10) + "_" + last.ID
	}
	return page
}
