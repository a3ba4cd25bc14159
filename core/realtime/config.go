package realtime

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is the `realtime` section. The Redis bus has its own section
// below it (realtime.redis).
type Config struct {
	// Driver names the registered bus driver: memory (in process, the
	// default) or redis (across processes), or one a third party registers
	// with AsDriver.
	Driver string `yaml:"driver"`
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// may open /ws; "*" allows any. Empty means the default for env: any
	// origin in development, same origin only (Origin's host equals Host)
	// in production. A request without Origin (not a browser) is always
	// allowed: origin checks only stop cross-site pages.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// PingInterval is how often the server pings each socket (default 25s).
	PingInterval time.Duration `yaml:"ping_interval"`
	// PongTimeout is how long past a ping interval the server waits for
	// any sign of life (pong or message) before dropping the socket as
	// dead (default 10s).
	PongTimeout time.Duration `yaml:"pong_timeout"`
	// WriteTimeout bounds one frame write (default 10s); a socket that
	// cannot take a frame in that time is dropped.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// SendBuffer is how many frames may wait for one socket (default 64).
	// When it is full the socket is dropped as a slow consumer: it never
	// holds up delivery to others.
	SendBuffer int `yaml:"send_buffer"`
	// MaxSocketsPerUser caps one user's open sockets on one instance, both
	// protocols together (default 300: the 301st is refused with 429).
	MaxSocketsPerUser int `yaml:"max_sockets_per_user"`
	// MaxSockets caps the sockets (and Socket.IO sessions not yet signed
	// in) of one instance (default 50000; refused with 503 beyond).
	MaxSockets int `yaml:"max_sockets"`
	// MaxMessageBytes caps one inbound message: a websocket frame, or a
	// Socket.IO long-polling request body (default 4096). A larger frame
	// closes the socket with 1009; a larger body gets 413.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxMessagesPerSecond is the steady inbound rate one socket may send
	// (frames, pings included; Socket.IO packets), with bursts of twice
	// that (default 10). Past it the socket is closed with 1008.
	MaxMessagesPerSecond int `yaml:"max_messages_per_second"`
	// Replay bounds what a reconnecting client is sent from the inbox.
	Replay ReplayConfig `yaml:"replay"`
	// SocketIO configures the Socket.IO endpoint.
	SocketIO SocketIOConfig `yaml:"socketio"`
}

// ReplayConfig is realtime.replay.
type ReplayConfig struct {
	// Limit is the most events replayed on one reconnect: the newest ones
	// when more were missed (default 100).
	Limit int `yaml:"limit"`
	// MaxAge: events older than this are not replayed (default 24h).
	MaxAge time.Duration `yaml:"max_age"`
}

// SocketIOConfig is realtime.socketio.
type SocketIOConfig struct {
	// Disabled turns /socket.io/ off (default false: served).
	Disabled bool `yaml:"disabled"`
	// Event is the event name pushes are emitted under (default
	// "notification"): 42["notification",{...},"<id>"].
	Event string `yaml:"event"`
	// ConnectTimeout is how long an Engine.IO session may stay without a
	// signed-in Socket.IO connect (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// SetDefaults applies the documented defaults.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "memory"
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout == 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 64
	}
	if c.MaxSocketsPerUser == 0 {
		c.MaxSocketsPerUser = 300
	}
	if c.MaxSockets == 0 {
		c.MaxSockets = 50_000
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 4096
	}
	if c.MaxMessagesPerSecond == 0 {
		c.MaxMessagesPerSecond = 10
	}
	if c.Replay.Limit == 0 {
		c.Replay.Limit = 100
	}
	if c.Replay.MaxAge == 0 {
		c.Replay.MaxAge = 24 * time.Hour
	}
	if c.SocketIO.Event == "" {
		c.SocketIO.Event = "notification"
	}
	if c.SocketIO.ConnectTimeout == 0 {
		c.SocketIO.ConnectTimeout = 10 * time.Second
	}
}

// Validate checks durations, the buffer and the origins.
func (c Config) Validate() error {
	switch {
	case c.Driver == "":
		return errors.New("driver: must be set")
	case c.PingInterval <= 0:
		return fmt.Errorf("ping_interval: %s must be positive", c.PingInterval)
	case c.PongTimeout <= 0:
		return fmt.Errorf("pong_timeout: %s must be positive", c.PongTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("write_timeout: %s must be positive", c.WriteTimeout)
	case c.SendBuffer < 1:
		return fmt.Errorf("send_buffer: %d must be at least 1", c.SendBuffer)
	case c.MaxSocketsPerUser < 1:
		return fmt.Errorf("max_sockets_per_user: %d must be at least 1", c.MaxSocketsPerUser)
	case c.MaxSockets < 1:
		return fmt.Errorf("max_sockets: %d must be at least 1", c.MaxSockets)
	case c.MaxMessageBytes < 256:
		return fmt.Errorf("max_message_bytes: %d must be at least 256 (a token refresh must fit)", c.MaxMessageBytes)
	case c.MaxMessagesPerSecond < 1:
		return fmt.Errorf("max_messages_per_second: %d must be at least 1", c.MaxMessagesPerSecond)
	case c.Replay.Limit < 1 || c.Replay.Limit > 10_000:
		return fmt.Errorf("replay.limit: %d must be from 1 to 10000", c.Replay.Limit)
	case c.Replay.MaxAge <= 0:
		return fmt.Errorf("replay.max_age: %s must be positive", c.Replay.MaxAge)
	case c.SocketIO.ConnectTimeout <= 0:
		return fmt.Errorf("socketio.connect_timeout: %s must be positive", c.SocketIO.ConnectTimeout)
	case !validEventName(c.SocketIO.Event):
		return fmt.Errorf("socketio.event: %q must be 1-64 printable characters and not a reserved name (connect, connect_error, disconnect, disconnecting)", c.SocketIO.Event)
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("allowed_origins: %q is not an origin like https://app.example.com or *", o)
		}
	}
	return nil
}

// originPolicy decides which Origin headers may open a socket.
type originPolicy struct {
	any     bool
	allowed map[string]bool // normalised scheme://host[:port]
}

// newOriginPolicy resolves AllowedOrigins against the environment: empty
// is "any" in development and "same origin" in production.
func newOriginPolicy(origins []string, production bool) originPolicy {
	p := originPolicy{allowed: map[string]bool{}}
	if len(origins) == 0 {
		p.any = !production
		return p
	}
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		p.allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return p
}

// allows reports whether a request with this Origin (maybe empty) to this
// Host may upgrade. Listed origins and same-origin requests pass.
func (p originPolicy) allows(origin, host string) bool {
	if origin == "" || p.any {
		return true
	}
	if p.allowed[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// validEventName refuses names socket.io-client reserves or that would not
// survive as a JSON string unescaped.
func validEventName(s string) bool {
	switch s {
	case "", "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return false
	}
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return false
		}
	}
	return true
}
