package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// bodyBudget bounds the request-body bytes held by all requests at once
// (Limits.MaxBytesInFlight). A body is charged as its bytes arrive, never
// by the length it announces, and the charge is returned when its handler
// ends; a read that would pass the budget fails with errBusy, which the
// route answers 503 with Retry-After. Query answers charge it too.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

func newBodyBudget(max int64) *bodyBudget {
	if max <= 0 {
		max = DefaultMaxBytesInFlight
	}
	return &bodyBudget{max: max}
}

// take charges n bytes, or reports false when that would pass the budget.
func (b *bodyBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// InFlight is the number of body bytes held now.
func (b *bodyBudget) InFlight() int64 { return b.used.Load() }

// readChunk bounds one charged read: a reader asking for a large buffer
// (io.ReadAll's doubled capacity) is charged for what can arrive in one
// read, not for the buffer.
const readChunk = 32 << 10

// errBusy is a body read refused because the budget is spent.
var errBusy = errors.New("the bridge is reading too many request bodies at once")

// RetryAfterBusy is the Retry-After of a 503 for a spent budget.
const RetryAfterBusy = time.Second

// chargedBody is a request body under a row's size limit and the budget.
type chargedBody struct {
	rc   io.ReadCloser // http.MaxBytesReader over the request's body
	max  int64         // the row's limit: rc never returns more
	b    *bodyBudget
	held int64
}

func (c *chargedBody) Read(p []byte) (int, error) {
	if len(p) > readChunk {
		p = p[:readChunk]
	}
	// Only bytes that can still be returned are charged: once the row's
	// limit is held, a read can only find the end (or the excess, which
	// rc refuses without returning it), so a body of exactly the limit
	// fits a budget of exactly the limit.
	want := min(int64(len(p)), c.max-c.held)
	if want <= 0 {
		return c.rc.Read(p)
	}
	p = p[:want]
	if !c.b.take(want) {
		return 0, errBusy
	}
	n, err := c.rc.Read(p)
	c.b.give(want - int64(n))
	c.held += int64(n)
	return n, err
}

func (c *chargedBody) Close() error { return c.rc.Close() }

type bodyKey struct{}

// limit runs next with the request body bounded to max bytes and charged
// to the budget, and returns the charge when next is done.
// from names what sets max, for the 413 ("" for the built-in bounds).
func (b *bodyBudget) limit(max int64, from string, next http.Handler) http.Handler {
	lim := bodyLimit{max: max, from: from, budget: b.max}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			// Announced too large: refused before a byte is read.
			w.Header().Set("Connection", "close")
			WriteErr(w, lim.tooLarge())
			return
		}
		cb := &chargedBody{rc: http.MaxBytesReader(w, r.Body, max), max: max, b: b}
		defer func() { b.give(cb.held) }()
		r.Body = cb
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, lim))
		next.ServeHTTP(w, r)
	})
}

// bodyLimit is a row's body bound, as ReadBody finds it in the context.
type bodyLimit struct {
	max    int64
	from   string
	budget int64 // the bytes in flight all bodies share
}

// tooLarge is the 413 for a body over the bound.
func (l bodyLimit) tooLarge() *Error {
	if l.from == "" {
		return Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", l.max)
	}
	return Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes (%s)", l.max, l.from)
}

// ReadBody reads the request body, as bounded by its route's row. The
// buffer grows with the bytes received, never with the length announced.
// Failures are *Error: 413 for a body over the row's limit, 503 (with
// Retry-After set on w) when the bodies in flight fill the budget, 400
// when the client fails to send it.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	lim, ok := r.Context().Value(bodyKey{}).(bodyLimit)
	if !ok {
		// Not under a row (a test calling a handler directly): bound it anyway.
		lim = bodyLimit{max: MaxBodyBytes}
		r.Body = http.MaxBytesReader(w, r.Body, lim.max)
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, nil
	}
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return nil, lim.tooLarge()
	case errors.Is(err, errBusy):
		return nil, &Error{Status: http.StatusServiceUnavailable, RetryAfter: RetryAfterBusy,
			Message: fmt.Sprintf("%v (more than %d bytes in flight); retry shortly", errBusy, lim.budget)}
	}
	return nil, Errorf(http.StatusBadRequest, "reading request body: %v", err)
}
