package redisstream

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Entry field names. They are watermill-redisstream's stream layout, kept so
// that a stock redisstream.Subscriber (given JSONMarshaller) reads Tipbox
// streams and the other way round.
const (
	// UUIDField holds the Watermill message UUID.
	UUIDField = redisstream.UUIDHeaderKey
	// PayloadField holds the message payload as written (JSON for Tipbox jobs).
	PayloadField = "payload"
	// MetadataField holds the metadata as a JSON object, or "" when empty.
	MetadataField = "metadata"
)

// Marshaller converts Watermill messages to stream entry fields and back. It
// is watermill-redisstream's own interface pair, so marshallers are
// interchangeable between the two transports.
type Marshaller = redisstream.MarshallerUnmarshaller

// JSONMarshaller stores an entry as three fields: the UUID, the payload
// bytes unchanged, and the metadata as a JSON object — unlike the stock
// default, which stores metadata as msgpack and is unreadable in redis-cli.
//
// It is stateless and safe for concurrent use.
type JSONMarshaller struct{}

var _ Marshaller = JSONMarshaller{}

// Marshal implements redisstream.Marshaller. The metadata key
// UUIDField is reserved, as in the stock marshaller.
func (JSONMarshaller) Marshal(_ string, msg *message.Message) (map[string]any, error) {
	md, err := jsonMetadata(msg)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		UUIDField:     msg.UUID,
		PayloadField:  []byte(msg.Payload),
		MetadataField: md,
	}, nil
}

// jsonValues is Marshal as an XADD field-value list (see publishReq).
func jsonValues(msg *message.Message) ([]any, error) {
	md, err := jsonMetadata(msg)
	if err != nil {
		return nil, err
	}
	return []any{UUIDField, msg.UUID, PayloadField, []byte(msg.Payload), MetadataField, md}, nil
}

func jsonMetadata(msg *message.Message) (string, error) {
	if _, ok := msg.Metadata[UUIDField]; ok {
		return "", fmt.Errorf("redisstream: metadata %s is reserved for the message UUID", UUIDField)
	}
	if len(msg.Metadata) == 0 {
		return "", nil
	}
	b, err := json.Marshal(map[string]string(msg.Metadata))
	if err != nil {
		return "", fmt.Errorf("redisstream: marshal metadata of %s: %w", msg.UUID, err)
	}
	return string(b), nil
}

// ErrMissingUUID is returned by Unmarshal for an entry without UUIDField,
// e.g. one written by hand with redis-cli.
var ErrMissingUUID = errors.New("redisstream: entry has no " + UUIDField + " field")

// Unmarshal implements redisstream.Unmarshaller. Values read by go-redis
// are strings; []byte is accepted too.
func (JSONMarshaller) Unmarshal(values map[string]any) (*message.Message, error) {
	uuid, ok := fieldString(values[UUIDField])
	if !ok || uuid == "" {
		return nil, ErrMissingUUID
	}
	payload, _ := fieldString(values[PayloadField])
	msg := message.NewMessage(uuid, []byte(payload))
	if md, _ := fieldString(values[MetadataField]); md != "" {
		meta := make(map[string]string)
		if err := json.Unmarshal([]byte(md), &meta); err != nil {
			return nil, fmt.Errorf("redisstream: metadata of %s is not a JSON object: %w", uuid, err)
		}
		msg.Metadata = meta
	}
	return msg, nil
}

func fieldString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	default:
		return "", false
	}
}
