package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/registry"
)

// Event is one push to one user: Payload is the JSON object that each of
// the user's sockets receives as one text frame, byte for byte.
type Event struct {
	UserID  int64
	Payload json.RawMessage
}

// Publisher pushes payloads to users' sockets, wherever they are connected.
// It is what modules use (the notification worker handler, for one).
//
// Publish is fire-and-forget: nil means the event was handed to the bus,
// not that anyone received it. A user with no open socket is not an error
// (the event is simply not delivered; the inbox is the durable record). An
// error means the bus could not take the event (Redis down, payload not a
// JSON object); callers log it and carry on. Safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, userID int64, payload any) error
}

// BatchBus is a Bus that publishes several events in one go (the Redis bus
// pipelines them). Optional: BusPublisher publishes one by one on a Bus
// that is not one.
type BatchBus interface {
	Bus
	PublishBatch(ctx context.Context, evs []Event) error
}

// Bus carries events from publishers (in any process) to every subscribed
// hub (in every API process). Delivery is at most once: an event published
// while a subscriber is disconnected from the bus is lost for it.
//
// Implementations must be safe for concurrent use.
type Bus interface {
	// Publish hands ev to every current subscriber. It must not block on
	// slow subscribers.
	Publish(ctx context.Context, ev Event) error
	// Subscribe calls handle for every event published from now on until
	// the returned close function is called (close is idempotent and waits
	// until handle is no longer running). handle must not block: it runs on
	// the publisher's goroutine (memory) or on the bus's receive loop
	// (redis). A bus that loses its server keeps the subscription and
	// resubscribes by itself.
	Subscribe(ctx context.Context, handle func(Event)) (close func(), err error)
	// Close releases the bus's resources (its Redis client, say).
	Close() error
}

// Driver is a named way to open a Bus, contributed by an adapter module to
// the "realtime.drivers" value group. Only the driver realtime.driver names
// is opened, so an unused Redis adapter never dials.
type Driver struct {
	Name string
	// Open creates the bus. It fails on bad configuration, not because a
	// server is unreachable (push only degrades).
	Open func(ctx context.Context) (Bus, error)
	// OpenPresence, when set, opens the store that shares presence across
	// the instances of a deployment (the redis driver's). Without it
	// presence is this process's own sockets (the embedded profile).
	OpenPresence func(ctx context.Context) (PresenceStore, error)
}

// History is the durable record of users' events, read to replay what a
// reconnecting client missed. It is implemented outside core (the
// notification module's inbox) and is optional: without it reconnects
// replay nothing.
//
// Event ids are positive integers, increasing in the order events are
// stored; a pushed payload carries its id in its "id" field (a JSON string
// or number), so a client can name the last one it saw.
type History interface {
	// After returns the user's events with ids above afterID, stored at or
	// after notBefore, oldest first; the newest limit of them when there
	// are more. truncated is true when it left out any event above afterID:
	// more than limit, or one stored before notBefore.
	After(ctx context.Context, userID, afterID int64, notBefore time.Time, limit int) (events []Stored, truncated bool, err error)
}

// Stored is one event of a History: its id and the payload as it was (or
// would have been) pushed.
type Stored struct {
	ID      int64
	Payload json.RawMessage
}

// PresenceStore shares, across the API instances of a deployment, how
// many sockets each user holds on each instance. Safe for concurrent use.
type PresenceStore interface {
	// Set records that this instance now holds n sockets of the user (0:
	// none). It must not block on I/O: the hub calls it while registering
	// sockets; the store writes in the background and keeps this
	// instance's entries alive until Close.
	Set(userID int64, n int)
	// Count returns the user's sockets on every live instance.
	Count(ctx context.Context, userID int64) (int, error)
	// Close removes this instance's entries and releases the store.
	Close() error
}

// AsDriver provides the result of a constructor returning a Driver so its result joins
// the "realtime.drivers" value group.
func AsDriver(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"realtime.drivers"`)))
}

// Errors.
var (
	// ErrUnknownDriver: realtime.driver names no registered driver.
	ErrUnknownDriver = errors.New("realtime: unknown driver")
	// ErrInvalidEvent: the user id is not positive or the payload is not
	// a JSON object.
	ErrInvalidEvent = errors.New("realtime: invalid event")
	// ErrClosed: the bus was closed.
	ErrClosed = errors.New("realtime: bus closed")
	// ErrTooManySockets: the user already holds max_sockets_per_user.
	ErrTooManySockets = errors.New("realtime: too many sockets for this user")
	// ErrServerFull: the instance already holds max_sockets.
	ErrServerFull = errors.New("realtime: too many sockets on this instance")
	// ErrShuttingDown: the hub is closing and takes no new sockets.
	ErrShuttingDown = errors.New("realtime: hub is shutting down")
)

// OpenDriver opens the bus of the driver called name. An unknown name is an
// error wrapping ErrUnknownDriver that names realtime.driver and the
// registered drivers.
func OpenDriver(ctx context.Context, name string, drivers []Driver) (Bus, error) {
	found, err := registry.Find(drivers, func(d Driver) string { return d.Name }, "realtime.driver", name, ErrUnknownDriver)
	if err != nil {
		return nil, err
	}
	b, err := found.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("realtime: open driver %q: %w", name, err)
	}
	return b, nil
}

// OpenPresence opens the presence store of the driver called name, or
// returns nil when that driver shares none (presence is then local).
func OpenPresence(ctx context.Context, name string, drivers []Driver) (PresenceStore, error) {
	found, err := registry.Find(drivers, func(d Driver) string { return d.Name }, "realtime.driver", name, ErrUnknownDriver)
	if err != nil || found.OpenPresence == nil {
		return nil, err
	}
	p, err := found.OpenPresence(ctx)
	if err != nil {
		return nil, fmt.Errorf("realtime: open presence of driver %q: %w", name, err)
	}
	return p, nil
}
