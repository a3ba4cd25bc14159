package notification

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones of preferences resolve on hosts without zoneinfo
)

// Channel names: the keys of preferences and of an item's deliveries.
const (
	ChannelEmail = "email"
	ChannelPush  = "push"
)

// Channels are the channels a preference may name, besides the socket and
// the inbox, which are always on.
var Channels = []string{ChannelEmail, ChannelPush}

// Config is the `notification` section.
type Config struct {
	// Types are the notification types users can set preferences for.
	// Each needs email templates (at least English).
	Types []string `yaml:"types"`
	// DefaultOn lists, per channel, the types that channel is on for when
	// a user has not said otherwise.
	DefaultOn DefaultOn `yaml:"default_on"`
	// DefaultLanguage and DefaultTimeZone apply to users who set none.
	DefaultLanguage string `yaml:"default_language"`
	DefaultTimeZone string `yaml:"default_time_zone"`
	// PublicURL is where users reach this API; unsubscribe links start
	// with it. Use https in production (mail clients' one-click
	// unsubscribe requires it).
	PublicURL string `yaml:"public_url"`
}

// DefaultOn is the channels' default types.
type DefaultOn struct {
	Email []string `yaml:"email"`
	Push  []string `yaml:"push"`
}

// SetDefaults applies the defaults: NEW_BADGE, on for both channels, in
// English, UTC.
func (c *Config) SetDefaults() {
	if c.Types == nil {
		c.Types = []string{"NEW_BADGE"}
	}
	if c.DefaultOn.Email == nil {
		c.DefaultOn.Email = slices.Clone(c.Types)
	}
	if c.DefaultOn.Push == nil {
		c.DefaultOn.Push = slices.Clone(c.Types)
	}
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = "en"
	}
	if c.DefaultTimeZone == "" {
		c.DefaultTimeZone = "UTC"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:8080"
	}
}

var (
	typeName     = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	languageName = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
)

// Validate checks the section; errors name the key below notification.
func (c Config) Validate() error {
	if len(c.Types) == 0 {
		return fmt.Errorf("types: at least one notification type is required")
	}
	for _, t := range c.Types {
		if !typeName.MatchString(t) {
			return fmt.Errorf("types: %q is not a type name (upper case letters, digits, _)", t)
		}
	}
	for key, list := range map[string][]string{"default_on.email": c.DefaultOn.Email, "default_on.push": c.DefaultOn.Push} {
		for _, t := range list {
			if !slices.Contains(c.Types, t) {
				return fmt.Errorf("%s: %q is not one of types (%s)", key, t, strings.Join(c.Types, ", "))
			}
		}
	}
	if !languageName.MatchString(c.DefaultLanguage) {
		return fmt.Errorf("default_language: %q is not a language tag such as en or tr", c.DefaultLanguage)
	}
	if _, err := time.LoadLocation(c.DefaultTimeZone); err != nil {
		return fmt.Errorf("default_time_zone: %q is not an IANA time zone", c.DefaultTimeZone)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public_url: %q is not an http(s) URL", c.PublicURL)
	}
	return nil
}

// defaultOn reports whether channel is on for typ by default.
func (c Config) defaultOn(typ, channel string) bool {
	switch channel {
	case ChannelEmail:
		return slices.Contains(c.DefaultOn.Email, typ)
	case ChannelPush:
		return slices.Contains(c.DefaultOn.Push, typ)
	}
	return false
}
