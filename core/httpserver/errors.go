package httpserver

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ErrorBody is the JSON shape of every error response:
// {"error":{"code":"...","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HTTPError is an error a handler meant for the client: its status, a
// stable machine-readable code and a human message.
type HTTPError struct {
	Status  int
	Code    string
	Message string
}

func (e *HTTPError) Error() string { return e.Code + ": " + e.Message }

// Error returns an error that the server renders as status with the code
// and message. Handlers map their packages' sentinel errors with it; any
// other error becomes a 500 whose details stay in the log.
func Error(status int, code, message string) error {
	return &HTTPError{Status: status, Code: code, Message: message}
}

// BadRequest is Error(400, "bad_request", message).
func BadRequest(message string) error { return Error(http.StatusBadRequest, "bad_request", message) }

// codeFor names the statuses Fiber itself produces.
func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// render writes err in the common format (and logs 5xx). Every error
// response, including those Fiber and fasthttp produce before any
// middleware ran, goes through it, so it sets the security headers too.
func render(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var he *HTTPError
		var fe *fiber.Error
		var body ErrorBody
		status := http.StatusInternalServerError
		switch {
		case errors.As(err, &he):
			status, body.Error = he.Status, ErrorDetail{Code: he.Code, Message: he.Message}
		case errors.As(err, &fe):
			status = fe.Code
			msg := fe.Message
			switch status {
			case http.StatusRequestEntityTooLarge:
				msg = "request body too large"
			case http.StatusRequestHeaderFieldsTooLarge:
				msg = "request headers too large"
			case http.StatusBadRequest:
				// fasthttp's parse errors quote the raw request.
				if strings.Contains(msg, "cannot") || strings.Contains(msg, "error when") {
					msg = "malformed request"
				}
			}
			body.Error = ErrorDetail{Code: codeFor(status), Message: msg}
		default:
			body.Error = ErrorDetail{Code: "internal", Message: "internal server error"}
		}
		if status >= 500 {
			log.ErrorContext(c.UserContext(), "request failed",
				"method", c.Method(), "path", c.Path(), "status", status,
				"request_id", RequestID(c), "err", err)
		}
		setSecurityHeaders(c)
		return c.Status(status).JSON(body)
	}
}
