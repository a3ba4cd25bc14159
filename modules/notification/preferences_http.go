package notification

import (
	"bytes"
	"encoding/json"
	"errors"
	htmltemplate "html/template"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/push"
)

// ChannelRoutes serves the routes of the channels: preferences, push
// subscriptions, the VAPID public key and one-click unsubscribe.
type ChannelRoutes struct {
	prefs    *PrefStore
	settings Settings
	unsub    *Unsubscriber
	push     push.Config
	v        *auth.Verifier
}

// NewChannelRoutes returns the routes.
func NewChannelRoutes(prefs *PrefStore, settings Settings, unsub *Unsubscriber, pcfg push.Config, v *auth.Verifier) *ChannelRoutes {
	return &ChannelRoutes{prefs: prefs, settings: settings, unsub: unsub, push: pcfg, v: v}
}

// Endpoints implements httpserver.Endpoints.
func (h *ChannelRoutes) Endpoints() []httpserver.Route {
	in := h.v.SignedIn()
	return []httpserver.Route{
		{Method: "GET", Path: "/api/v1/users/:id/preferences", Access: in, Handler: h.getPrefs},
		{Method: "PUT", Path: "/api/v1/users/:id/preferences", Access: in, Handler: h.putPrefs, Action: "notification.preferences.put"},
		{Method: "GET", Path: "/api/v1/users/:id/push-subscriptions", Access: in, Handler: h.listSubs},
		{Method: "POST", Path: "/api/v1/users/:id/push-subscriptions", Access: in, Handler: h.subscribe, Action: "notification.push.subscribe"},
		{Method: "DELETE", Path: "/api/v1/users/:id/push-subscriptions", Access: in, Handler: h.unsubscribePush, Action: "notification.push.unsubscribe"},
		{Method: "GET", Path: "/api/v1/push/public-key", Access: in, Handler: h.publicKey},
		// One-click unsubscribe: no bearer token, the link's signature is
		// the authority. GET (a person following the link) only asks; POST
		// (the button, or a mail client per RFC 8058) turns the channel off.
		{Method: "GET", Path: UnsubscribePath + ":token", Access: auth.Public(), Handler: h.unsubscribePage},
		{Method: "POST", Path: UnsubscribePath + ":token", Access: auth.Public(), Handler: h.unsubscribe, Action: "notification.unsubscribe"},
	}
}

// self parses :id and checks the caller is that user or an admin.
func self(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpserver.BadRequest("user id must be a positive integer")
	}
	if p, _ := auth.PrincipalFrom(c); p.UserID != id && !p.IsAdmin() {
		return 0, httpserver.Error(http.StatusForbidden, "forbidden", "only the user or an admin may do this")
	}
	return id, nil
}

func prefsError(err error) error {
	switch {
	case errors.Is(err, ErrUnknownType):
		return httpserver.Error(http.StatusBadRequest, "unknown_notification_type", err.Error())
	case errors.Is(err, ErrUnknownChannel):
		return httpserver.Error(http.StatusBadRequest, "unknown_channel", err.Error())
	case errors.Is(err, ErrInvalidPrefs):
		return httpserver.Error(http.StatusBadRequest, "invalid_preferences", err.Error())
	}
	return err
}

func (h *ChannelRoutes) getPrefs(c *fiber.Ctx) error {
	id, err := self(c)
	if err != nil {
		return err
	}
	p, err := h.prefs.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(prefsView(h.settings.Effective(p)))
}

// prefsView always writes quietHours (null when none).
func prefsView(p Preferences) fiber.Map {
	return fiber.Map{"language": p.Language, "timeZone": p.TimeZone, "quietHours": p.QuietHours, "channels": p.Channels}
}

type prefsRequest struct {
	Language   string                     `json:"language"`
	TimeZone   string                     `json:"timeZone"`
	QuietHours json.RawMessage            `json:"quietHours"`
	Channels   map[string]map[string]bool `json:"channels"`
}

func (h *ChannelRoutes) putPrefs(c *fiber.Ctx) error {
	id, err := self(c)
	if err != nil {
		return err
	}
	var req prefsRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	u := Preferences{Language: req.Language, TimeZone: req.TimeZone, Channels: req.Channels}
	clearQuiet := false
	if q := bytes.TrimSpace(req.QuietHours); len(q) > 0 {
		if string(q) == "null" {
			clearQuiet = true
		} else {
			dec := json.NewDecoder(bytes.NewReader(q))
			dec.DisallowUnknownFields()
			var qh QuietHours
			if err := dec.Decode(&qh); err != nil {
				return httpserver.Error(http.StatusBadRequest, "invalid_preferences", `quietHours: want {"start":"HH:MM","end":"HH:MM"} or null`)
			}
			u.QuietHours = &qh
		}
	}
	if err := h.settings.Validate(u); err != nil {
		return prefsError(err)
	}
	p, err := h.prefs.Update(c.UserContext(), id, func(cur Preferences) (Preferences, error) {
		return cur.Merge(u, clearQuiet), nil
	})
	if err != nil {
		return prefsError(err)
	}
	return c.JSON(prefsView(h.settings.Effective(p)))
}

type subscribeRequest struct {
	Endpoint       string          `json:"endpoint"`
	ExpirationTime json.RawMessage `json:"expirationTime"`
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

func (h *ChannelRoutes) listSubs(c *fiber.Ctx) error {
	id, err := self(c)
	if err != nil {
		return err
	}
	subs, err := h.prefs.Subscriptions(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(subs)
}

func (h *ChannelRoutes) subscribe(c *fiber.Ctx) error {
	id, err := self(c)
	if err != nil {
		return err
	}
	var req subscribeRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	sub := push.Subscription{Endpoint: req.Endpoint, P256dh: req.Keys.P256dh, Auth: req.Keys.Auth}
	if err := sub.Validate(); err != nil {
		return httpserver.Error(http.StatusBadRequest, "invalid_subscription", err.Error())
	}
	s, err := h.prefs.Subscribe(c.UserContext(), id, sub)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(s)
}

func (h *ChannelRoutes) unsubscribePush(c *fiber.Ctx) error {
	id, err := self(c)
	if err != nil {
		return err
	}
	endpoint := c.Query("endpoint")
	if endpoint == "" && len(c.Body()) > 0 {
		var req struct {
			Endpoint string `json:"endpoint"`
		}
		if err := httpserver.DecodeJSON(c, &req); err != nil {
			return err
		}
		endpoint = req.Endpoint
	}
	if endpoint == "" {
		return httpserver.BadRequest(`endpoint: give the subscription's endpoint as ?endpoint= or {"endpoint":...}`)
	}
	if err := h.prefs.Unsubscribe(c.UserContext(), id, endpoint); errors.Is(err, ErrSubscriptionNotFound) {
		return httpserver.Error(http.StatusNotFound, "subscription_not_found", "no push subscription with that endpoint")
	} else if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *ChannelRoutes) publicKey(c *fiber.Ctx) error {
	if !h.push.HasKeys() {
		return httpserver.Error(http.StatusNotFound, "push_not_configured", "Web Push has no VAPID key pair configured")
	}
	return c.JSON(fiber.Map{"publicKey": h.push.VAPIDPublicKey})
}

var unsubscribePage = htmltemplate.Must(htmltemplate.New("unsubscribe").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Unsubscribe</title></head>
<body style="font-family: sans-serif">
{{if .Done}}<p>Done: {{.Channel}} notifications of type {{.Type}} are off. You can turn them on again in your preferences.</p>
{{else}}<form method="post"><p>Stop {{.Channel}} notifications of type {{.Type}}?</p>
<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>{{end}}
</body></html>
`))

func (h *ChannelRoutes) parseToken(c *fiber.Ctx) (int64, string, string, error) {
	id, ch, typ, err := h.unsub.Parse(c.Params("token"))
	if err != nil {
		return 0, "", "", httpserver.Error(http.StatusBadRequest, "invalid_token", "the unsubscribe link is not valid")
	}
	return id, ch, typ, nil
}

func (h *ChannelRoutes) unsubscribePage(c *fiber.Ctx) error {
	_, ch, typ, err := h.parseToken(c)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := unsubscribePage.Execute(&b, map[string]any{"Channel": ch, "Type": typ}); err != nil {
		return err
	}
	c.Type("html", "utf-8")
	return c.Send(b.Bytes())
}

func (h *ChannelRoutes) unsubscribe(c *fiber.Ctx) error {
	id, ch, typ, err := h.parseToken(c)
	if err != nil {
		return err
	}
	off := Preferences{Channels: map[string]map[string]bool{typ: {ch: false}}}
	if err := h.settings.Validate(off); err != nil {
		// A type no longer configured: nothing of it will be sent.
		return prefsError(err)
	}
	if _, err := h.prefs.Update(c.UserContext(), id, func(cur Preferences) (Preferences, error) {
		return cur.Merge(off, false), nil
	}); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := unsubscribePage.Execute(&b, map[string]any{"Done": true, "Channel": ch, "Type": typ}); err != nil {
		return err
	}
	c.Type("html", "utf-8")
	return c.Send(b.Bytes())
}
