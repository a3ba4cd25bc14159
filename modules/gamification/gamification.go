// Package gamification is the badge module: the catalogue, granting a
// badge to a user (admin route and a service call for other modules), and
// the NEW_BADGE notification each grant queues.
//
// A grant and its notification are written in one transaction: the grant
// row and an outbox row. After the commit the grant enqueues its own
// notification (job id "badge-<user>-<badge>", so a re-send is
// deduplicated) and deletes its row; a relay retries what a crash or a
// queue outage left behind. When the queue enqueues inside a transaction
// (queue.driver postgres), the job itself takes the outbox row's place in
// the grant's transaction. A grant is therefore never without its
// notification, and never notified twice.
package gamification

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, mapped to HTTP by the handlers.
var (
	ErrBadgeNotFound  = errors.New("gamification: badge not found")
	ErrUserNotFound   = errors.New("gamification: user not found")
	ErrAlreadyGranted = errors.New("gamification: badge already granted")
)

// Queue and job name of the notification a grant produces.
const (
	NotificationQueue = "notifications"
	NewBadgeJob       = "NEW_BADGE"
)

// Badge is a catalogue entry.
type Badge struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Icon        string `json:"icon"`
	Description string `json:"description"`
}

// Grant is a badge given to a user.
type Grant struct {
	UserID    int64     `json:"userId"`
	BadgeID   int64     `json:"badgeId"`
	BadgeName string    `json:"badgeName"`
	BadgeIcon string    `json:"badgeIcon"`
	GrantedAt time.Time `json:"grantedAt"`
}

// NewBadgeEvent is the payload of a NEW_BADGE notification job.
type NewBadgeEvent struct {
	Type      string    `json:"type"` // "NEW_BADGE"
	UserID    int64     `json:"userId"`
	BadgeID   int64     `json:"badgeId"`
	BadgeName string    `json:"badgeName"`
	BadgeIcon string    `json:"badgeIcon"`
	GrantedAt time.Time `json:"grantedAt"`
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
