package httpserver_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/httpserver"
)

// level is a value written as text in its own format.
type level int

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return errors.New("level: want low or high")
	}
	return nil
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	type req struct {
		Name  string         `json:"name"`
		Count int64          `json:"count"`
		Data  map[string]any `json:"data"`
		At    time.Time      `json:"at"`
		Level level          `json:"level"`
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		he := err.(*httpserver.HTTPError)
		return c.Status(he.Status).SendString(he.Code + ": " + he.Message)
	}})
	app.Post("/", func(c *fiber.Ctx) error {
		var r req
		if err := httpserver.DecodeJSON(c, &r); err != nil {
			return err
		}
		return c.SendString("ok " + r.Name)
	})
	for _, tc := range []struct {
		ct, body string
		status   int
		want     string
	}{
		{"application/json", `{"name":"a","count":1}`, 200, "ok a"},
		{"application/json; charset=UTF-8", `{"name":"a"}`, 200, "ok a"},
		{"", `{"name":"a"}`, 415, "unsupported_media_type"},
		{"text/plain", `{"name":"a"}`, 415, "unsupported_media_type"},
		{"application/json; charset=latin1", `{"name":"a"}`, 415, "unsupported_media_type"},
		{"application/jsonx", `{"name":"a"}`, 415, "unsupported_media_type"},
		{"application/json", `{"name":"a","name":"b"}`, 400, `duplicate field "name"`},
		{"application/json", `{"data":{"k":1,"k":2}}`, 400, `duplicate field "data.k"`},
		{"application/json", `{"count":"x"}`, 400, `field "count": want a whole number`},
		{"application/json", `{"name":7}`, 400, `field "name": want a string`},
		{"application/json", `{"level":"mid"}`, 400, `field "level": level: want low or high`},
		{"application/json", `{"level":3}`, 400, `field "level": want a string`},
		{"application/json", `{"at":"yesterday"}`, 400, `field "at": parsing time "yesterday"`},
		{"application/json", `{"at":{}}`, 400, `field "at": want a string`},
		{"application/json", `{"level":"low","at":"2026-01-02T03:04:05Z"}`, 200, "ok"},
		{"application/json", `{"nmae":"a"}`, 400, `unknown field "nmae"`},
		{"application/json", `{"Name":"a"}`, 400, `unknown field "Name"`},
		{"application/json", `[1]`, 400, "request body must be a JSON object"},
		{"application/json", ``, 400, "request body must be a JSON object"},
		{"application/json", `{"name":"a"} {}`, 400, "invalid JSON"},
		{"application/json", `{"name":"a`, 400, "invalid JSON"},
		{"application/json", "{\"name\":\"\xff\"}", 400, "invalid JSON"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		resp, err := app.Test(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%q %s: %d %s, want %d %q", tc.ct, tc.body, resp.StatusCode, b, tc.status, tc.want)
		}
		if strings.Contains(string(b), "int64") || strings.Contains(string(b), "httpserver_test") || strings.Contains(string(b), "Go ") {
			t.Errorf("%s: message leaks a Go type: %s", tc.body, b)
		}
	}
}
