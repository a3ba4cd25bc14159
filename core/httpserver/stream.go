package httpserver

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// StreamDeadline lets a streamed response (Server-Sent Events) outlive
// http.write_timeout, which otherwise covers the whole response: call it
// in the handler, and call the returned extend before each write of the
// stream, so the write deadline is always at least window ahead.
//
// It must be called from the handler, not from the stream writer: the
// request context is pooled and may serve another request once the
// client has gone while the writer still runs. extend therefore moves the
// deadline on the connection itself (net.Conn deadlines are safe to set
// from any goroutine; on a closed connection it does nothing).
func StreamDeadline(c *fiber.Ctx, window time.Duration) (extend func()) {
	fctx := c.Context()
	// Through the context once, so that the server knows the handler set
	// the deadline and does not reset it after the handler returns.
	_ = fctx.SetWriteDeadline(time.Now().Add(window))
	conn := fctx.Conn()
	return func() {
		if conn != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(window))
		}
	}
}
