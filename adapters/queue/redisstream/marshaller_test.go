package redisstream

import (
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

func TestJSONMarshallerRoundTrip(t *testing.T) {
	m := JSONMarshaller{}
	msg := message.NewMessage("id-1", []byte(`{"a":1}`))
	msg.Metadata.Set("correlation_id", "c1")
	fields, err := m.Marshal("topic", msg)
	if err != nil {
		t.Fatal(err)
	}
	if fields[MetadataField] != `{"correlation_id":"c1"}` {
		t.Fatalf("metadata field %q is not readable JSON", fields[MetadataField])
	}
	// go-redis hands values back as strings.
	read := map[string]any{}
	for k, v := range fields {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		read[k] = v
	}
	got, err := m.Unmarshal(read)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(msg) {
		t.Fatalf("round trip: got %s %q %v", got.UUID, got.Payload, got.Metadata)
	}

	empty, err := m.Marshal("topic", message.NewMessage("id-2", nil))
	if err != nil || empty[MetadataField] != "" {
		t.Fatalf("empty metadata: %v %v", empty, err)
	}
}

func TestJSONMarshallerErrors(t *testing.T) {
	m := JSONMarshaller{}
	msg := message.NewMessage("id", nil)
	msg.Metadata.Set(UUIDField, "x")
	if _, err := m.Marshal("topic", msg); err == nil {
		t.Fatal("reserved metadata key accepted")
	}
	if _, err := m.Unmarshal(map[string]any{"payload": "x"}); !errors.Is(err, ErrMissingUUID) {
		t.Fatalf("missing uuid: %v", err)
	}
	if _, err := m.Unmarshal(map[string]any{UUIDField: "u", MetadataField: "\x81\xa1k"}); err == nil {
		t.Fatal("msgpack metadata accepted as JSON")
	}
}

func TestStreamID(t *testing.T) {
	a, err := parseStreamID("1700000000000-5")
	if err != nil {
		t.Fatal(err)
	}
	if a.next().String() != "1700000000000-6" || !a.less(a.next()) || a.next().less(a) {
		t.Fatalf("next/less wrong for %s", a)
	}
	if m := (streamID{7, ^uint64(0)}).next(); m != (streamID{8, 0}) {
		t.Fatalf("overflow: %v", m)
	}
	for _, bad := range []string{"", "1", "a-1", "1-b"} {
		if _, err := parseStreamID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
