package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/lighthouse-project/lighthouse/bridge/api"
)

// Error is an answer of the Bridge other than success: its HTTP status,
// its JSON error (api.ErrorResponse) and its Retry-After. Get it with
// errors.As.
type Error struct {
	Method string // of the request
	Path   string // of the request, without its query
	Status int
	// Code is the error's machine-readable name ("forbidden",
	// "too_many_requests"); Message its detail. An answer that is not the
	// Bridge's JSON error has Code "" and its text (bounded) as Message.
	Code, Message string
	// RetryAfter is the answer's Retry-After (0 when absent), at most an hour.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("lighthouse bridge: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), msg)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Temporary reports whether the same request may succeed later: the
// Bridge is busy (429, 503) or asked for a retry.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable || e.RetryAfter > 0
}

// readError builds the Error of a refused request from its answer, read
// up to maxErrorBytes.
func readError(method, path string, resp *http.Response) *Error {
	b, _ := readAtMost(resp.Body, maxErrorBytes)
	return errorFrom(method, path, resp, b)
}

// errorFrom is the Error of an answer whose body (bounded) is b.
func errorFrom(method, path string, resp *http.Response, b []byte) *Error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var body api.ErrorResponse
	if json.Unmarshal(b, &body) == nil && body.Detail != "" {
		e.Code, e.Message = clean(body.Error, 64), clean(body.Detail, maxErrorBytes)
		return e
	}
	e.Message = clean(string(b), 1024)
	if resp.StatusCode/100 == 3 {
		e.Message = strings.TrimSpace(e.Message + " (redirects are not followed; Location: " + clean(resp.Header.Get("Location"), 256) + ")")
	}
	return e
}

// clean keeps a server's text printable: invalid UTF-8 and control
// characters (a terminal's escape sequences) become U+FFFD, newlines
// spaces; at most n bytes are kept.
func clean(s string, n int) string {
	if len(s) > n {
		s = s[:n] // a rune cut in two becomes U+FFFD below
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || r == 0x7f || unicode.Is(unicode.Cf, r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// parseRetryAfter reads a Retry-After header: whole seconds or an HTTP
// date, at most an hour; anything else is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}
