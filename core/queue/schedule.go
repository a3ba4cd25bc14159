package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/fx"
)

// Schedule makes a job of a queue at every tick of a cron expression (with
// an optional seconds field, in a time zone) or of a fixed interval.
// Exactly one job is made per tick across every process: its id is
// "<schedule id>@<tick in Unix ms>" and enqueuing it is unique.
type Schedule struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// Name is the job name the ticks make.
	Name string `json:"name"`
	// Cron is a cron expression: five fields, or six with seconds first
	// ("*/10 * * * * *"), or a descriptor such as "@daily". Either Cron or
	// Every is set.
	Cron string `json:"cron,omitempty"`
	// Every is a fixed interval; ticks fall on multiples of it since the
	// Unix epoch, so every process agrees on them.
	Every Duration `json:"every,omitempty"`
	// TimeZone is the IANA zone Cron is read in (default UTC).
	TimeZone string `json:"timeZone,omitempty"`
	// Payload is the JSON every tick's job carries.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Priority, MaxAttempts and Timeout go to every tick's job (zero: the
	// defaults).
	Priority    Priority `json:"priority"`
	MaxAttempts int      `json:"maxAttempts,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"`
	// Missed says what happens to ticks that passed while no process ran:
	// MissedSkip (default) makes none of them; MissedCatchUpOnce makes one
	// job, for the latest.
	Missed MissedPolicy `json:"missed,omitempty"`
	// Last is the latest tick a job was made for; Created is when the
	// schedule was first stored (both kept by the backend).
	Last    time.Time `json:"last,omitzero"`
	Created time.Time `json:"created,omitzero"`
}

// MissedPolicy is what a Schedule does with the ticks it missed.
type MissedPolicy string

// The missed-tick policies.
const (
	MissedSkip        MissedPolicy = "skip"
	MissedCatchUpOnce MissedPolicy = "catch_up_once"
)

// Duration is a time.Duration written as text ("1m30s") in JSON.
type Duration time.Duration

// MarshalText writes d as "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "1m30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

var scheduleID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ErrScheduleNotFound is returned for a schedule the queue does not hold.
var ErrScheduleNotFound = errors.New("queue: schedule not found")

// ErrBadSchedule is returned for an invalid schedule; the message names
// the field.
var ErrBadSchedule = errors.New("queue: bad schedule")

// Validate checks the schedule; errors wrap ErrBadSchedule and name the
// field.
func (s Schedule) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSchedule, fmt.Sprintf(format, a...))
	}
	switch {
	case !scheduleID.MatchString(s.ID):
		return bad("id: %q is not 1-64 of letters, digits and _ . : -", s.ID)
	case s.Name == "":
		return bad("name: the job name is empty")
	case (s.Cron == "") == (s.Every == 0):
		return bad("cron, every: set exactly one of them")
	case s.Every < 0 || (s.Every > 0 && s.Every < Duration(time.Second)):
		return bad("every: %s is under 1s", time.Duration(s.Every))
	case s.Missed != "" && s.Missed != MissedSkip && s.Missed != MissedCatchUpOnce:
		return bad("missed: %q is not skip or catch_up_once", s.Missed)
	case s.Priority < PriorityLow || s.Priority > PriorityHigh:
		return bad("priority: %d is not a priority", s.Priority)
	case s.MaxAttempts < 0:
		return bad("maxAttempts: %d is negative", s.MaxAttempts)
	case s.Timeout < 0:
		return bad("timeout: %s is negative", time.Duration(s.Timeout))
	case len(s.Payload) > 0 && !json.Valid(s.Payload):
		return bad("payload: not valid JSON")
	}
	if _, err := s.location(); err != nil {
		return bad("timeZone: %q is not a time zone (e.g. Europe/Istanbul): %v", s.TimeZone, err)
	}
	if s.Cron != "" {
		if _, err := cronParser.Parse(s.Cron); err != nil {
			return bad("cron: %q: %v", s.Cron, err)
		}
	}
	return nil
}

func (s Schedule) location() (*time.Location, error) {
	if s.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(s.TimeZone)
}

// Next is the first tick after t (zero for an invalid schedule).
func (s Schedule) Next(t time.Time) time.Time {
	if s.Every > 0 {
		e := time.Duration(s.Every)
		return time.UnixMilli((t.UnixMilli()/e.Milliseconds() + 1) * e.Milliseconds())
	}
	loc, err := s.location()
	if err != nil {
		return time.Time{}
	}
	sched, err := cronParser.Parse(s.Cron)
	if err != nil {
		return time.Time{}
	}
	return sched.Next(t.In(loc))
}

// latest is the last tick at or before t, searched from `from` (zero when
// there is none after `from`).
func (s Schedule) latest(from, t time.Time) time.Time {
	if s.Every > 0 {
		e := time.Duration(s.Every).Milliseconds()
		tick := time.UnixMilli(t.UnixMilli() / e * e)
		if !tick.After(from) {
			return time.Time{}
		}
		return tick
	}
	var last time.Time
	for n := s.Next(from); !n.IsZero() && !n.After(t); n = s.Next(n) {
		last = n
	}
	return last
}

// TickID is the id of the job a tick makes.
func (s Schedule) TickID(tick time.Time) string {
	return fmt.Sprintf("%s@%d", s.ID, tick.UnixMilli())
}

// Scheduling is the part of a backend that stores schedules. A driver
// that cannot store them leaves it out: schedules are then unavailable.
type Scheduling interface {
	// Schedules lists a queue's schedules with Last and Created.
	Schedules(ctx context.Context, queue string) ([]Schedule, error)
	// PutSchedule stores a schedule, keeping its Last and Created if it
	// exists.
	PutSchedule(ctx context.Context, queue string, s Schedule) error
	// DeleteSchedule removes one (ErrScheduleNotFound when absent).
	DeleteSchedule(ctx context.Context, queue, id string) error
	// EnqueueTick enqueues the tick's job, unique by its id, and records the
	// tick as the schedule's Last, in one step; false when the job was
	// already made (by another process).
	EnqueueTick(ctx context.Context, queue, id string, tick time.Time, job NewRecord) (bool, error)
}

// AsSchedule contributes a schedule declared in code to the value group
// "queue.schedules": it is stored (upserted) when the program starts.
func AsSchedule(s Schedule) fx.Option {
	return fx.Supply(fx.Annotate(s, fx.ResultTags(`group:"queue.schedules"`)))
}
