package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// decompress decodes a request body sent with Content-Encoding (gzip,
// deflate, br or zstd, one coding) before any handler sees it, stopping
// at limit bytes of output: a body that would expand past the limit is a
// 413 and never grows memory by its expanded size. Other codings, or
// several stacked, get 415. Afterwards the body is plain and the header is
// gone, so Fiber's c.Body() (which decompresses without a limit) has
// nothing left to expand.
func decompress(limit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := c.Request()
		ce := strings.TrimSpace(string(req.Header.ContentEncoding()))
		if ce == "" {
			return c.Next()
		}
		if strings.EqualFold(ce, "identity") {
			req.Header.Del(fiber.HeaderContentEncoding)
			return c.Next()
		}
		err := fitsLimit(ce, req.Body(), limit)
		var body []byte
		if err == nil {
			body, err = req.BodyUncompressedWithLimit(limit)
		}
		switch {
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			return Error(http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("request body too large after decompression (limit %d bytes)", limit))
		case errors.Is(err, fasthttp.ErrContentEncodingUnsupported):
			return Error(http.StatusUnsupportedMediaType, "unsupported_media_type",
				"Content-Encoding must be one of gzip, deflate, br, zstd (one coding)")
		case err != nil:
			return BadRequest("request body is not valid for its Content-Encoding")
		}
		req.SetBodyRaw(body)
		req.Header.Del(fiber.HeaderContentEncoding)
		return c.Next()
	}
}

// errOverLimit stops a counting pass.
var errOverLimit = fasthttp.ErrBodyTooLarge

// countingWriter discards what it is given and fails once more than limit
// bytes came through.
type countingWriter struct{ n, limit int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.limit {
		return 0, errOverLimit
	}
	return len(p), nil
}

// fitsLimit decodes body once into nothing, only counting, so that a body
// over the limit is refused without its output ever being kept: the
// decoding with fasthttp's limit alone would grow a buffer to twice the
// limit for every such request. zstd is left to fasthttp, whose limit also
// caps the decoder's window.
func fitsLimit(coding string, body []byte, limit int) error {
	w := &countingWriter{limit: limit}
	var err error
	switch strings.ToLower(coding) {
	case "gzip":
		_, err = fasthttp.WriteGunzip(w, body)
	case "deflate":
		_, err = fasthttp.WriteInflate(w, body)
	case "br":
		_, err = fasthttp.WriteUnbrotli(w, body)
	default:
		return nil
	}
	if errors.Is(err, errOverLimit) {
		return fasthttp.ErrBodyTooLarge
	}
	return err
}
