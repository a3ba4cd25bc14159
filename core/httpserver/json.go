package httpserver

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
)

// DecodeJSON decodes the request body strictly into dst (a pointer to a
// struct). The Content-Type must be application/json (charset utf-8 at
// most), else 415. Malformed JSON, invalid UTF-8, a duplicate key, an
// unknown field, a value of the wrong kind or trailing data are 400s whose
// message names the field and the kind of value wanted, never a Go type.
// Field names match exactly (case-sensitive).
//
// It uses the JSON v2 implementation (github.com/go-json-experiment/json):
// encoding/json silently keeps the last of duplicate keys and replaces
// invalid UTF-8, which would let two parsers read one body differently.
func DecodeJSON(c *fiber.Ctx, dst any) error {
	if !isJSONContentType(c.Get(fiber.HeaderContentType)) {
		return Error(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return BadRequest("request body must be a JSON object")
	}
	if err := json.Unmarshal(body, dst, json.RejectUnknownMembers(true)); err != nil {
		return BadRequest(describeJSONError(err))
	}
	return nil
}

func isJSONContentType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

func describeJSONError(err error) string {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("invalid JSON: duplicate field %s", fieldOf(string(syn.JSONPointer)))
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syn.ByteOffset, syn.Err)
	case errors.As(err, &sem) && errors.Is(sem.Err, json.ErrUnknownName):
		return fmt.Sprintf("unknown field %s", fieldOf(string(sem.JSONPointer)))
	case errors.As(err, &sem) && sem.JSONPointer == "":
		return "request body must be a JSON object"
	case errors.As(err, &sem) && sem.JSONKind == '"' && isTextType(sem.GoType) && sem.Err != nil:
		// A string the field's own parser refused (a duration, a time, a
		// named value): its message says what is wrong with the text.
		return fmt.Sprintf("field %s: %v", fieldOf(string(sem.JSONPointer)), sem.Err)
	case errors.As(err, &sem):
		return fmt.Sprintf("field %s: want %s", fieldOf(string(sem.JSONPointer)), kindOf(sem.GoType))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of input"
	}
	return "invalid JSON"
}

// fieldOf turns a JSON pointer ("/data/0/name") into "data.0.name".
func fieldOf(pointer string) string {
	p := strings.TrimPrefix(pointer, "/")
	p = strings.ReplaceAll(p, "/", ".")
	p = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
	if p == "" {
		return "(body)"
	}
	return fmt.Sprintf("%q", p)
}

// textUnmarshaler is implemented by types written as JSON strings in their
// own format (durations, times, named values).
var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func isTextType(t reflect.Type) bool {
	return t != nil && (t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler))
}

// kindOf names the JSON kind a Go type takes, for messages.
func kindOf(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isTextType(t) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}
