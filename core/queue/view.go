package queue

import (
	"encoding/json"
	"time"
)

// JobView is a job as the job API shows it: fields that do not apply are
// null. Logs are set only for a single job.
type JobView struct {
	ID          string          `json:"id"`
	Queue       string          `json:"queue"`
	Name        string          `json:"name"`
	State       State           `json:"state"`
	Payload     json.RawMessage `json:"payload"`
	Priority    Priority        `json:"priority"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"maxAttempts"`
	Stalls      int             `json:"stalls"`
	Progress    int             `json:"progress"`
	Error       *string         `json:"error"`
	EnqueuedAt  *time.Time      `json:"enqueuedAt"`
	StartedAt   *time.Time      `json:"startedAt"`
	FinishedAt  *time.Time      `json:"finishedAt"`
	RunAt       *time.Time      `json:"runAt"`
}

// JobDetail is one job with its log lines (GET of a single job).
type JobDetail struct {
	JobView
	Logs []LogLine `json:"logs"`
}

// Detail returns the single-job view of j.
func (j *Job) Detail() JobDetail {
	d := JobDetail{JobView: j.View(), Logs: j.Logs}
	if d.Logs == nil {
		d.Logs = []LogLine{}
	}
	return d
}

// View returns the API view of j.
func (j *Job) View() JobView {
	v := JobView{ID: j.ID, Queue: j.Queue, Name: j.Name, State: j.State, Payload: j.Payload,
		Priority: j.Priority, Attempts: j.AttemptsMade(), MaxAttempts: j.MaxAttempts, Stalls: j.Stalls,
		Progress: j.Percent, EnqueuedAt: timePtr(j.EnqueuedAt), StartedAt: timePtr(j.StartedAt),
		FinishedAt: timePtr(j.FinishedAt)}
	if v.Payload == nil {
		v.Payload = json.RawMessage("null")
	}
	if j.Error != "" {
		e := j.Error
		v.Error = &e
	}
	if j.State == StateWaiting || j.State == StateDelayed {
		v.RunAt = timePtr(j.RunAt)
	}
	return v
}

// AttemptsMade is how many attempts have started: Attempt, less the one
// a waiting, delayed or never-started cancelled job has not begun.
func (j *Job) AttemptsMade() int {
	switch j.State {
	case StateWaiting, StateDelayed:
		return j.Attempt - 1
	case StateCancelled:
		if j.StartedAt.IsZero() {
			return j.Attempt - 1
		}
	}
	return j.Attempt
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
