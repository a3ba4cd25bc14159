package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// BusPublisher is the Publisher over a Bus: it encodes the payload once and
// hands the event to the bus. Safe for concurrent use.
type BusPublisher struct {
	bus Bus
}

// NewPublisher returns the Publisher that publishes on bus.
func NewPublisher(bus Bus) *BusPublisher { return &BusPublisher{bus: bus} }

// Publish encodes payload (json.RawMessage and []byte are taken as they
// are, anything else goes through json.Marshal), checks that it is a JSON
// object and publishes it for userID. See Publisher for the contract.
func (p *BusPublisher) Publish(ctx context.Context, userID int64, payload any) error {
	ev, err := NewEvent(userID, payload)
	if err != nil {
		return err
	}
	return p.bus.Publish(ctx, ev)
}

// PublishBatch publishes evs (made by NewEvent) in order: in one call to
// the bus when it is a BatchBus, else one Publish each. It returns the
// first error; every event is tried.
func (p *BusPublisher) PublishBatch(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	if bb, ok := p.bus.(BatchBus); ok {
		return bb.PublishBatch(ctx, evs)
	}
	var first error
	for _, ev := range evs {
		if err := p.bus.Publish(ctx, ev); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// NewEvent builds the Event for userID and payload, as Publish does.
func NewEvent(userID int64, payload any) (Event, error) {
	if userID <= 0 {
		return Event{}, fmt.Errorf("%w: user id %d is not positive", ErrInvalidEvent, userID)
	}
	var raw []byte
	switch v := payload.(type) {
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return Event{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
		}
		raw = b
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return Event{}, fmt.Errorf("%w: payload must be a JSON object", ErrInvalidEvent)
	}
	return Event{UserID: userID, Payload: raw}, nil
}

var _ Publisher = (*BusPublisher)(nil)
