package cache

import "encoding/json"

// Codec turns values into the bytes a Store keeps and back. Implementations
// must be safe for concurrent use. An Unmarshal error is treated by Aside as
// a corrupt entry (a miss that gets overwritten), never as a failed request.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec (encoding/json). Entries stay readable with
// redis-cli, and the Node service stored JSON too.
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
