package notification

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sentinel errors of preferences, mapped to 400s by the handlers.
var (
	ErrUnknownType    = errors.New("notification: unknown notification type")
	ErrUnknownChannel = errors.New("notification: unknown channel")
	ErrInvalidPrefs   = errors.New("notification: invalid preferences")
)

// Preferences are a user's settings. Stored, they hold only what the user
// set (zero values mean "the default"); Effective fills in the rest.
type Preferences struct {
	// Language is a language tag (en, tr, pt-BR); emails fall back to its
	// base language, then to English.
	Language string `json:"language,omitempty"`
	// TimeZone is an IANA zone name, in which QuietHours are read.
	TimeZone string `json:"timeZone,omitempty"`
	// QuietHours, when set, hold email and push back until they end.
	QuietHours *QuietHours `json:"quietHours,omitempty"`
	// Channels maps a type to its channels' on/off switches.
	Channels map[string]map[string]bool `json:"channels,omitempty"`
}

// QuietHours is a daily window, "HH:MM" to "HH:MM" in the user's zone;
// a Start after End spans midnight.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

func clock(s string) (h, m int, ok bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, 0, false
	}
	return h, m, true
}

// Validate checks the window's times.
func (q QuietHours) Validate() error {
	if _, _, ok := clock(q.Start); !ok {
		return fmt.Errorf("%w: quietHours.start: %q is not HH:MM", ErrInvalidPrefs, q.Start)
	}
	if _, _, ok := clock(q.End); !ok {
		return fmt.Errorf("%w: quietHours.end: %q is not HH:MM", ErrInvalidPrefs, q.End)
	}
	return nil
}

// Until returns how long from now the window lasts in loc (0 when now is
// outside it, or the window is empty). Its end is a wall-clock time, so
// the result is right across daylight-saving changes.
func (q QuietHours) Until(now time.Time, loc *time.Location) time.Duration {
	sh, sm, ok1 := clock(q.Start)
	eh, em, ok2 := clock(q.End)
	if !ok1 || !ok2 {
		return 0
	}
	local := now.In(loc)
	y, mo, d := local.Date()
	start := time.Date(y, mo, d, sh, sm, 0, 0, loc)
	end := time.Date(y, mo, d, eh, em, 0, 0, loc)
	switch {
	case sh*60+sm == eh*60+em:
		return 0
	case sh*60+sm < eh*60+em: // within one day
		if !local.Before(start) && local.Before(end) {
			return end.Sub(now)
		}
	default: // across midnight
		if !local.Before(start) {
			return time.Date(y, mo, d+1, eh, em, 0, 0, loc).Sub(now)
		}
		if local.Before(end) {
			return end.Sub(now)
		}
	}
	return 0
}

// Settings resolves preferences against the configured defaults.
type Settings struct{ cfg Config }

// NewSettings returns the Settings of a validated config.
func NewSettings(cfg Config) Settings { return Settings{cfg: cfg} }

// Types are the configured notification types.
func (s Settings) Types() []string { return s.cfg.Types }

// Effective is p with every default filled in: a language, a zone, and a
// switch for every type and channel.
func (s Settings) Effective(p Preferences) Preferences {
	out := Preferences{Language: p.Language, TimeZone: p.TimeZone, QuietHours: p.QuietHours,
		Channels: make(map[string]map[string]bool, len(s.cfg.Types))}
	if out.Language == "" {
		out.Language = s.cfg.DefaultLanguage
	}
	if out.TimeZone == "" {
		out.TimeZone = s.cfg.DefaultTimeZone
	}
	for _, t := range s.cfg.Types {
		m := make(map[string]bool, len(Channels))
		for _, ch := range Channels {
			on, set := p.Channels[t][ch]
			if !set {
				on = s.cfg.defaultOn(t, ch)
			}
			m[ch] = on
		}
		out.Channels[t] = m
	}
	return out
}

// On reports whether channel is on for typ in effective preferences.
func (p Preferences) On(typ, channel string) bool { return p.Channels[typ][channel] }

// QuietFor returns how long the user's quiet hours last from now (0 when
// none or outside them).
func (p Preferences) QuietFor(now time.Time) time.Duration {
	if p.QuietHours == nil {
		return 0
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return p.QuietHours.Until(now, loc)
}

// Validate checks stored preferences against the configured types and the
// known channels; errors name the offending field.
func (s Settings) Validate(p Preferences) error {
	if p.Language != "" && !languageName.MatchString(p.Language) {
		return fmt.Errorf("%w: language: %q is not a language tag such as en or tr", ErrInvalidPrefs, p.Language)
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "Local" {
			return fmt.Errorf("%w: timeZone: %q is not an IANA time zone such as Europe/Istanbul", ErrInvalidPrefs, p.TimeZone)
		}
	}
	if p.QuietHours != nil {
		if err := p.QuietHours.Validate(); err != nil {
			return err
		}
	}
	for t, chans := range p.Channels {
		if !slices.Contains(s.cfg.Types, t) {
			return fmt.Errorf("%w: channels.%s: %q is not one of %s", ErrUnknownType, t, t, strings.Join(s.cfg.Types, ", "))
		}
		for ch := range chans {
			if !slices.Contains(Channels, ch) {
				return fmt.Errorf("%w: channels.%s.%s: %q is not one of %s", ErrUnknownChannel, t, ch, ch, strings.Join(Channels, ", "))
			}
		}
	}
	return nil
}

// Merge applies an update to stored preferences: set fields replace,
// switches are set one by one, clearQuiet removes the quiet hours.
func (p Preferences) Merge(u Preferences, clearQuiet bool) Preferences {
	out := p
	if u.Language != "" {
		out.Language = u.Language
	}
	if u.TimeZone != "" {
		out.TimeZone = u.TimeZone
	}
	if clearQuiet {
		out.QuietHours = nil
	}
	if u.QuietHours != nil {
		q := *u.QuietHours
		out.QuietHours = &q
	}
	if len(u.Channels) > 0 {
		merged := make(map[string]map[string]bool, len(p.Channels)+len(u.Channels))
		for t, m := range p.Channels {
			merged[t] = make(map[string]bool, len(m))
			for ch, on := range m {
				merged[t][ch] = on
			}
		}
		for t, m := range u.Channels {
			if merged[t] == nil {
				merged[t] = map[string]bool{}
			}
			for ch, on := range m {
				merged[t][ch] = on
			}
		}
		out.Channels = merged
	}
	return out
}
